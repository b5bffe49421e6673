import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

/// `WorkerRegistry`: a registered worker's arguments are decoded once, and arguments that do not
/// decode are the job's fault.
@Suite(.timeLimit(.minutes(5))) struct WorkerRegistryTests {
    let logger = TestDatabase.logger

    // MARK: Arguments

    @Test func argumentsThatDoNotDecodeAreDiscarded() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let id = try await JobClient(client: client, logger: logger)
                .enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": "soon"}"#)).id
            try await QT.withDaemon(QT.daemon(client, registry: try QT.registry(), configuration: QT.configuration())) {
                try await QT.waitForState(id, .discarded, on: client)
            }
            let row = try await QT.row(id, on: client)
            #expect(row.attempt == 1, "discarded at once, not retried")
            let last = try #require(try await QT.errorEntries(id, on: client).last)
            #expect(last.error?.contains("arguments do not match diag.sleep") == true)
        }
    }
}
