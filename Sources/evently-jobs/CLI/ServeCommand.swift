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
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        try await options.withDatabase { config, logger, clientConfiguration in
            let daemon = Daemon(config: config, clientConfiguration: clientConfiguration, metrics: registry, logger: logger)
            try await daemon.run()
            logger.info("evently-jobs stopped")
        }
    }
}
