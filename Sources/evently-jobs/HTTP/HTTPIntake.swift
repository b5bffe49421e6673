import BookingCore
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import Queue
import Scheduler
import Workers

/// The daemon's HTTP side: the router with its middleware and every route group
/// (`Routes/`, one per path prefix).
struct HTTPIntake: Sendable {
    let client: PostgresClient
    let migrator: SchemaMigrator
    let metrics: PrometheusCollectorRegistry
    let settings: JobsConfig.Intake
    let booking: BookingSettings
    var sms = SMSSettings()
    /// The configured schedules, for `/v1/schedules` (list and run now).
    var schedules: [Schedule] = []
    /// Feeds `/v1/live`; without one the live routes are not served.
    var live: LiveHub?
    /// Where read-only requests go (the replica, when one is configured and current).
    var readTargets: ReadTargets?
    let logger: Logger

    /// The HTTP/1.1 server: idle connections (and heads that trickle in) are closed after
    /// `http.idle_timeout` by Hummingbird's own connection state handler. Upgrades to
    /// `GET /v1/live` go through a router of their own (``LiveRoutes/makeWebSocketRouter(trustedProxies:)``).
    func server() async -> HTTPServerBuilder {
        let http1 = HTTP1Channel.Configuration(idleTimeout: TimeAmount(settings.idleTimeout))
        guard let live else { return .http1(configuration: http1) }
        let routes = LiveRoutes(hub: live, authenticator: await authenticator(), corsOrigins: Set(settings.corsOrigins),
                                upgradesPerAddress: RateLimiter(perMinute: settings.rateLimitPerAddress))
        let webSocketResponder = routes.makeWebSocketRouter(trustedProxies: settings.trustedProxies).buildResponder()
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: http1,
            ws: .init(maxFrameSize: 1 << 16, autoPing: .enabled(timePeriod: live.settings.pingInterval), closeTimeout: .seconds(5)))
        let limit = TimeAmount(settings.idleTimeout)
        return HTTPServerBuilder { responder in
            FirstHeadDeadlineChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder,
                                                    configuration: configuration),
                limit: limit)
        }
    }

    /// Checks bearer tokens; `nil` without `auth.jwt_secret` (every token is refused).
    func authenticator() async -> Authenticator? {
        guard let secret = settings.jwtSecret else { return nil }
        return await Authenticator(secret: secret, expectations: .init(
            issuer: settings.issuer, audience: settings.audience, leeway: settings.leeway))
    }

    func makeRouter() async -> Router<IntakeContext> {
        let router = Router(context: IntakeContext.self)
        // Outermost: it sees the status IntakeMiddleware made of any error.
        let metricsFactory = PrometheusMetricsFactory(registry: metrics)
        router.middlewares.add(HTTPMetricsMiddleware(factory: metricsFactory))
        router.middlewares.add(IntakeMiddleware(trustedProxies: settings.trustedProxies))
        router.middlewares.add(HeaderSizeMiddleware())
        router.middlewares.add(RequestReadTimeout(limit: settings.requestTimeout))
        if !settings.corsOrigins.isEmpty {
            router.middlewares.add(CORSOriginFilter(allowed: Set(settings.corsOrigins)))
            router.middlewares.add(CORSMiddleware(
                allowOrigin: .originBased,
                allowHeaders: [.authorization, .contentType, .idempotencyKey, .ifMatch],
                allowMethods: [.get, .post, .patch, .delete, .options],
                exposedHeaders: ["X-Request-Id", "ETag", "Retry-After"]))
        }
        let authenticator = await authenticator()
        router.middlewares.add(AuthenticationMiddleware(
            authenticator: authenticator,
            perUser: RateLimiter(perMinute: settings.rateLimitPerUser),
            perAddress: RateLimiter(perMinute: settings.rateLimitPerAddress)))

        HealthRoutes(client: client, migrator: migrator, metrics: metrics, logger: logger).add(to: router)
        ConsoleRoutes().add(to: router)
        ScheduleRoutes(jobs: JobClient(client: client, logger: logger, deadline: settings.databaseTimeout), schedules: schedules)
            .add(to: router)
        let readTargets = self.readTargets, client = self.client, logger = self.logger, deadline = settings.databaseTimeout
        let jobReads: @Sendable () -> JobClient = {
            JobClient(client: readTargets?.reads ?? client, logger: logger, deadline: deadline)
        }
        JobRoutes(jobs: JobClient(client: client, logger: logger, deadline: settings.databaseTimeout), reads: jobReads,
                  scope: EnqueueScope(patterns: settings.enqueueKinds)).add(to: router)
        let bookingAPI = BookingAPI(client: client, settings: booking, databaseTimeout: settings.databaseTimeout, logger: logger,
                                    metrics: BookingMetrics(factory: metricsFactory), readTargets: readTargets)
        EventRoutes(api: bookingAPI).add(to: router)
        BookingRoutes(api: bookingAPI).add(to: router)
        WaitlistRoutes(api: bookingAPI).add(to: router)
        NotificationRoutes(api: bookingAPI).add(to: router)
        AnalyticsRoutes(api: bookingAPI).add(to: router)
        ReportRoutes(api: bookingAPI).add(to: router)
        if let live {
            LiveRoutes(hub: live, authenticator: authenticator, corsOrigins: Set(settings.corsOrigins)).add(to: router)
        }
        SMSWebhookRoutes(client: client, databaseTimeout: settings.databaseTimeout, settings: sms, logger: logger).add(to: router)
        return router
    }
}
