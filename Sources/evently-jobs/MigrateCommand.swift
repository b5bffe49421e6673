import ArgumentParser
import Logging
import PostgresNIO
import Queue

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply pending schema migrations and exit.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        let logger = options.makeLogger(config)
        let location = DatabaseLocation(config: config, logger: logger)
        let clientConfiguration = try location.prepare(config: config, logger: logger)
        defer { location.shutDown(logger: logger) }
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        let applied = try await client.whileRunning {
            try await DatabaseSchema.migrator(logger: logger).migrate(client)
        }
        print(applied.isEmpty
              ? "database is up to date"
              : "applied \(applied.count) migration(s): " + applied.map { "\($0.module)/\($0.version) \($0.name)" }.joined(separator: ", "))
    }
}

extension PostgresClient {
    /// Runs the pool for the duration of `body`.
    func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.run() }
            defer { group.cancelAll() }
            // Let the pool start before the first lease, which it would otherwise log as a warning.
            try await Task.sleep(for: .milliseconds(5))
            return try await body()
        }
    }
}
