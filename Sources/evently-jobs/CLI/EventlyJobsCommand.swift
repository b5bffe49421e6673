import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import Queue

@main
struct EventlyJobsCommand: AsyncParsableCommand {
    /// This build's version: `--version`, and each daemon's row among the live daemons.
    static let version = "0.11.0"

    static let configuration = CommandConfiguration(
        commandName: "evently-jobs",
        abstract: "Evently's job queue and scheduler daemon on PostgreSQL.",
        version: version,
        subcommands: [ServeCommand.self, MigrateCommand.self, EnqueueCommand.self, StatusCommand.self, JobsCommand.self, QueuesCommand.self, BenchCommand.self, BookingBenchCommand.self, EmailBenchCommand.self, EndToEndBenchCommand.self, SchedulesCommand.self, TokenCommand.self, ConsoleCommand.self, DaemonsCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    /// Like ArgumentParser's own `main`, but database errors print their server message.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigError {
            exit(withError: error)
        } catch let error as PSQLError {
            exit(withError: CommandFailure(message: readableDescription(of: error)))
        } catch let error as PostgresTransactionError {
            exit(withError: CommandFailure(message: readableDescription(of: error)))
        } catch {
            exit(withError: error)
        }
    }
}
