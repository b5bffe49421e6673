import ArgumentParser
import Logging
import PostgresNIO
import Queue

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply pending schema migrations and exit.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let applied = try await options.withDatabase(reachableFirst: true) { _, logger, clientConfiguration in
            let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
            return try await client.whileRunning {
                try await DatabaseSchema.migrator(logger: logger).migrate(client)
            }
        }
        print(applied.isEmpty
              ? "database is up to date"
              : "applied \(applied.count) migration(s): " + applied.map { "\($0.module)/\($0.version) \($0.name)" }.joined(separator: ", "))
    }
}
