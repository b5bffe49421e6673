import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import Queue
import Workers

/// The daemon's HTTP side: health, readiness, metrics, and the `/v1` intake.
struct HTTPIntake: Sendable {
    let client: PostgresClient
    let migrator: SchemaMigrator
    let metrics: PrometheusCollectorRegistry
    let settings: JobsConfig.Intake
    let booking: BookingSettings
    var sms = SMSSettings()
    let logger: Logger
    /// How long `/readyz` waits for the database before answering 503.
    var readinessTimeout: Duration = .seconds(2)

    func makeRouter() async -> Router<IntakeContext> {
        let router = Router(context: IntakeContext.self)
        router.middlewares.add(IntakeMiddleware(trustedProxies: Set(settings.trustedProxies)))
        if !settings.corsOrigins.isEmpty {
            router.middlewares.add(CORSOriginFilter(allowed: Set(settings.corsOrigins)))
            router.middlewares.add(CORSMiddleware(
                allowOrigin: .originBased,
                allowHeaders: [.authorization, .contentType, .idempotencyKey, .ifMatch],
                allowMethods: [.get, .post, .patch, .delete, .options],
                exposedHeaders: ["X-Request-Id", "ETag", "Retry-After"]))
        }
        router.middlewares.add(AuthenticationMiddleware(
            authenticator: await settings.jwtSecret.asyncMap { await Authenticator(secret: $0) },
            perUser: RateLimiter(perMinute: settings.rateLimitPerUser),
            perAddress: RateLimiter(perMinute: settings.rateLimitPerAddress)))
        JobRoutes(jobs: JobClient(client: client, logger: logger)).add(to: router)
        let bookingAPI = BookingAPI(client: client, settings: booking, logger: logger)
        EventRoutes(api: bookingAPI).add(to: router)
        BookingRoutes(api: bookingAPI).add(to: router)
        WaitlistRoutes(api: bookingAPI).add(to: router)
        AnalyticsRoutes(api: bookingAPI).add(to: router)
        ReportRoutes(api: bookingAPI).add(to: router)
        SMSWebhookRoutes(client: client, settings: sms, logger: logger).add(to: router)
        router.get("/healthz") { _, _ in
            Self.json(.ok, ["status": "ok"])
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        router.get("/readyz") { _, _ in
            await readiness()
        }
        router.get("/metrics") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeBytes(metrics.emitToBuffer())
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: buffer))
        }
        return router
    }

    /// 200 when the database answers and holds every migration this binary knows; 503 otherwise.
    func readiness() async -> Response {
        do {
            let upToDate = try await withDeadline(readinessTimeout) {
                try await migrator.isUpToDate(on: client)
            }
            if upToDate { return Self.json(.ok, ["status": "ready"]) }
            return Self.json(.serviceUnavailable, ["status": "not_ready", "reason": "database is not migrated"])
        } catch {
            logger.debug("readiness check failed: \(readableDescription(of: error))")
            return Self.json(.serviceUnavailable, ["status": "not_ready", "reason": "database unreachable"])
        }
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

struct DeadlineExceeded: Error {}

/// Runs `operation`, throwing ``DeadlineExceeded`` if it takes longer than `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw DeadlineExceeded() }
        return first
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
