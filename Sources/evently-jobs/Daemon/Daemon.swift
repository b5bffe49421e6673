import BookingCore
import Hummingbird
import Logging
import Synchronization
import PostgresNIO
import Prometheus
import Queue
import Scheduler
import Workers
import ServiceLifecycle
import UnixSignals

/// Wires the daemon's services into one `ServiceGroup`; SIGTERM and SIGINT drain it.
struct Daemon: Sendable {
    let config: JobsConfig
    let clientConfiguration: PostgresClient.Configuration
    let metrics: PrometheusCollectorRegistry
    let logger: Logger
    /// Called with the bound port once the HTTP listener is up (tests use port 0).
    var onHTTPListening: @Sendable (Int) async -> Void = { _ in }
    /// Lets an embedding program (tests, the booking benchmark) ask for the same graceful
    /// shutdown as SIGTERM; cancelling the task instead skips the drain.
    var shutdown = ShutdownHandle()

    /// Runs until a shutdown signal (or the cancellation of the calling task) has drained every service.
    ///
    /// The pool outlives the service group: services stop first (in reverse order, the HTTP
    /// intake before the workers), and only then are database connections closed.
    func run() async throws {
        // Every task of the daemon (workers, intake, scheduler) inherits the setting.
        try await StatementPreparation.$enabled.withValue(config.database.preparesStatements) { try await runServices() }
    }

    private func runServices() async throws {
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        let replica = try config.database.replicaURL.map { url in
            var configuration = try DatabaseLocation.clientConfiguration(url: url)
            configuration.options.maximumConnections = config.database.poolSize
            configuration.options.connectTimeout = config.database.connectTimeout
            // So the replica's own pg_stat_activity shows what the daemon reads there.
            configuration.options.additionalStartupParameters = [("application_name", ReadTargets.applicationName)]
            return PostgresClient(configuration: configuration, backgroundLogger: logger)
        }
        try await client.whileRunning {
            try await replica.whileRunningIfAny {
                try await runServices(client: client, replica: replica)
            }
        }
    }

    private func runServices(client: PostgresClient, replica: PostgresClient?) async throws {
        let migrator = DatabaseSchema.migrator(logger: logger)
        try await migrator.migrate(client)

        var services: [any Service] = []
        // Every series of this daemon goes to its own registry (tests run several daemons
        // in one process), whatever the global MetricsSystem was bootstrapped with.
        let metricsFactory = PrometheusMetricsFactory(registry: metrics)
        let registry = try WorkerCatalog.makeRegistry(client: client, retention: config.queue.retention, booking: config.booking,
                                                      delivery: config.delivery, reports: config.reports,
                                                      metricsFactory: metricsFactory)
        var queueConfiguration = config.queue
        queueConfiguration.version = EventlyJobsCommand.version
        let listenConnection = try DatabaseLocation.listenConnection(config: config, clientConfiguration: clientConfiguration)
        if listenConnection == nil {
            logger.warning("""
                database.transaction_pooling is on and database.listen_url is not set: running poll-only \
                (no LISTEN): new jobs wait up to queue.poll_interval (\(config.queue.pollInterval)), live updates \
                up to the same; set database.listen_url to a direct URL of the database to be woken at once
                """)
        }
        services.append(JobDaemon(client: client, registry: registry, configuration: queueConfiguration, logger: logger,
                                  listenConnection: listenConnection, pollOnly: listenConnection == nil,
                                  metricsFactory: metricsFactory))
        if config.scheduling.enabled {
            services.append(CronScheduler(schedules: config.scheduling.schedules, catchUp: config.scheduling.catchUp,
                                          client: client, logger: logger, metricsFactory: metricsFactory))
        }
        let readTargets = ReadTargets(primary: client, replica: replica, maxLag: config.database.replicaMaxLag,
                                      logger: logger, metricsFactory: metricsFactory)
        if replica != nil {
            logger.info("read-only requests go to the replica while it is at most \(config.database.replicaMaxLag) behind")
            services.append(readTargets)
        }
        if config.http.enabled {
            let live = LiveHub(client: client, settings: config.live, pricing: config.booking.pricing,
                               listenConnection: listenConnection,
                               pollInterval: listenConnection == nil ? config.queue.pollInterval : nil,
                               databaseTimeout: config.intake.databaseTimeout,
                               logger: logger, metricsFactory: metricsFactory)
            // Before the HTTP intake: services stop in reverse order, so the streams close
            // (and the intake drains) while the hub still runs.
            services.append(LiveService(hub: live))
            let intake = HTTPIntake(client: client, migrator: migrator, metrics: metrics, settings: config.intake,
                                    booking: config.booking, sms: config.delivery.sms, schedules: config.scheduling.schedules,
                                    live: live, readTargets: readTargets, logger: logger)
            if config.intake.jwtSecret == nil {
                logger.warning("auth.jwt_secret is not set: the /v1 routes refuse every token (set it or EVENTLY_JWT_SECRET; make one with `openssl rand -hex 32`)")
            }
            let onListening = onHTTPListening
            let logger = logger
            let app = Application(
                router: await intake.makeRouter(),
                server: await intake.server(),
                configuration: .init(address: .hostname(config.http.host, port: config.http.port), serverName: "evently-jobs"),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    logger.info("HTTP intake listening on \(channel.localAddress?.description ?? "?")")
                    await onListening(port)
                },
                logger: logger
            )
            services.append(app)
        }
        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        shutdown.attach(group)
        logger.info("evently-jobs serving", metadata: ["http": "\(config.http.enabled ? "\(config.http.host):\(config.http.port)" : "off")"])
        try await group.run()
        // Said so that a stop that hangs after this point is seen to be in closing the pools.
        logger.info("services stopped; closing database connections")
    }
}
