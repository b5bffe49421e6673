import ArgumentParser
import Logging
import Metrics
import PostgresNIO
import Prometheus

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the daemon: workers, scheduler and HTTP intake in one process.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        let logger = options.makeLogger(config)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let location = DatabaseLocation(config: config, logger: logger)
        let clientConfiguration = try location.prepare(config: config, logger: logger)
        defer { location.shutDown(logger: logger) }
        let daemon = Daemon(config: config, clientConfiguration: clientConfiguration, metrics: registry, logger: logger)
        try await daemon.run()
        logger.info("evently-jobs stopped")
    }
}
