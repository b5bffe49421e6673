import Foundation
import Logging
import PostgresNIO
import Queue

extension ConfigOptions {
    /// Opens the configured (or embedded) database, migrated, for one CLI command.
    func withJobClient<T: Sendable>(_ body: (JobClient) async throws -> T) async throws -> T {
        // Operator commands print results; routine start-up chatter would drown them.
        try await withDatabase(logLevel: { max($0, .warning) }, reachableFirst: true) { _, logger, clientConfiguration in
            let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
            return try await client.whileRunning {
                try await DatabaseSchema.migrator(logger: logger).migrate(client)
                return try await body(JobClient(client: client, logger: logger))
            }
        }
    }
}
