import ArgumentParser
import Logging
import PostgresNIO
import Queue

/// `--config`, shared by every subcommand.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file. EVENTLY_* environment variables override it.")
    var config: String = "jobs.conf"

    func load() throws -> JobsConfig {
        try JobsConfig.load(path: config)
    }

    func makeLogger(_ config: JobsConfig) -> Logger {
        var logger = Logger(label: "evently-jobs")
        logger.logLevel = config.logLevel
        return logger
    }

    /// Loads the configuration, prepares its database (starting the embedded cluster when no
    /// URL is configured) and runs `body` with a client configuration for it; the embedded
    /// cluster is stopped afterwards. `logLevel` turns the configured level into the command's.
    ///
    /// With `reachableFirst`, one connection is opened (within `database.connect_timeout`)
    /// before anything else, so that a wrong URL, database name or password fails the command at
    /// once with the server's own message: the pool would retry behind a circuit breaker for
    /// about a minute and then report only that the breaker tripped.
    func withDatabase<T>(
        logLevel: (Logger.Level) -> Logger.Level = { $0 },
        reachableFirst: Bool = false,
        _ body: (JobsConfig, Logger, PostgresClient.Configuration) async throws -> T
    ) async throws -> T {
        var config = try load()
        var logger = makeLogger(config)
        logger.logLevel = logLevel(logger.logLevel)
        // Several hosts: everything connects to the relay that follows the writable one.
        var router: WritableHostRouter?
        if let url = config.database.url, let hosts = try DatabaseHosts.parse(url) {
            let started = try await DatabaseLocation.startRouter(hosts: hosts, config: config, logger: logger)
            config.database.url = hosts.url(through: .init(name: "127.0.0.1", port: started.port))
            router = started
        }
        let routing = router.map { router in Task { await router.run() } }
        defer { routing?.cancel() }
        let location = DatabaseLocation(config: config, logger: logger)
        var clientConfiguration = try location.prepare(config: config, logger: logger)
        defer { location.shutDown(logger: logger) }
        if let router, !router.hosts.hosts[0].isIPAddress {
            // TLS is still end to end: the certificate is checked against the first host's name
            // (an IP address cannot be a TLS server name).
            clientConfiguration.options.tlsServerName = router.hosts.hosts[0].name
        }
        if reachableFirst {
            try await Self.checkReachable(clientConfiguration, tls: try DatabaseLocation.connectionTLS(url: config.database.url),
                                          within: config.database.connectTimeout, logger: logger)
        }
        let result: Result<T, any Error>
        do {
            result = .success(try await StatementPreparation.$enabled.withValue(config.database.preparesStatements) {
                try await body(config, logger, clientConfiguration)
            })
        } catch {
            result = .failure(error)
        }
        // The relay closes only after everything that used it has.
        routing?.cancel()
        await routing?.value
        return try result.get()
    }

    static func checkReachable(_ configuration: PostgresClient.Configuration, tls: PostgresConnection.Configuration.TLS,
                               within limit: Duration, logger: Logger) async throws {
        let target = PostgresConnection.Configuration(sameServerAs: configuration, tls: tls)
        do {
            try await withDeadline(limit) {
                let connection = try await PostgresConnection.connect(configuration: target, id: 0, logger: logger)
                try? await connection.close()
            }
        } catch let error as DeadlineExceeded {
            throw CommandFailure(message: "cannot reach the database: no answer within \(error.limit) (database.connect_timeout)")
        } catch {
            throw CommandFailure(message: "cannot reach the database: \(readableDescription(of: error))")
        }
    }
}
