import ArgumentParser
import Logging
import PostgresNIO

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
    func withDatabase<T>(
        logLevel: (Logger.Level) -> Logger.Level = { $0 },
        _ body: (JobsConfig, Logger, PostgresClient.Configuration) async throws -> T
    ) async throws -> T {
        let config = try load()
        var logger = makeLogger(config)
        logger.logLevel = logLevel(logger.logLevel)
        let location = DatabaseLocation(config: config, logger: logger)
        let clientConfiguration = try location.prepare(config: config, logger: logger)
        defer { location.shutDown(logger: logger) }
        return try await body(config, logger, clientConfiguration)
    }
}
