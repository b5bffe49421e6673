import ArgumentParser
import Foundation
import Logging

@main
struct EventlyJobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evently-jobs",
        abstract: "Evently's job queue and scheduler daemon on PostgreSQL.",
        subcommands: [ServeCommand.self, MigrateCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

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
}
