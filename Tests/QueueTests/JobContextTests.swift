import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

/// `JobContext.complete(on:)`: a worker's database work and its job's completion commit together.
@Suite(.timeLimit(.minutes(5))) struct JobContextTests {
    static let logger = TestDatabase.logger

    struct MarkPayload: JobPayload {
        static let kind = "test.mark"
        var marker: String
        /// Hold the transaction open until an operator has cancelled the job.
        var waitForCancel = false
    }

    /// Inserts a marker row and completes its job in the same transaction.
    struct MarkWorker: JobWorker {
        let client: PostgresClient
        func work(_ payload: MarkPayload, context: JobContext) async throws {
            try await client.withConnection { connection in
                try await connection.transaction(logger: JobContextTests.logger) { connection in
                    try await connection.query("INSERT INTO markers (marker) VALUES (\(payload.marker))", logger: JobContextTests.logger)
                    if payload.waitForCancel {
                        while try await QT.scalar(String.self, "SELECT state FROM evently_jobs.jobs WHERE id = \(context.jobID)", on: client) != "cancelled" {
                            try await Task.sleep(for: .milliseconds(20))
                        }
                    }
                    try await context.complete(on: connection)
                }
            }
        }
    }

    static func markers(_ client: PostgresClient) async throws -> [String] {
        try await client.withConnection { connection in
            var markers: [String] = []
            for try await marker in try await connection.query("SELECT marker FROM markers ORDER BY marker", logger: logger).decode(String.self) {
                markers.append(marker)
            }
            return markers
        }
    }

    @Test func workAndCompletionCommitTogetherAndALostJobRollsBack() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            try await QT.execute(sql: "CREATE TABLE markers (marker text NOT NULL)", on: client)
            let registry = try QT.registry { try $0.register(MarkWorker(client: client)) }
            let jobs = JobClient(client: client, logger: Self.logger)
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                let done = try await jobs.enqueue(try NewJob(MarkPayload(marker: "committed"))).id
                try await QT.waitForState(done, .completed, on: client)

                let lost = try await jobs.enqueue(try NewJob(MarkPayload(marker: "rolled-back", waitForCancel: true))).id
                try await QT.waitForState(lost, .running, on: client)
                _ = try await jobs.cancel(id: lost)
                // The worker sees it lost the job; its attempt fails and the job stays cancelled.
                try await QT.waitUntil("""
                    SELECT count(*) = 0 FROM pg_stat_activity
                    WHERE datname = current_database() AND state LIKE 'idle in transaction%'
                    """, on: client)
                let marker = try await jobs.enqueue(NewJob(kind: "diag.noop")).id
                try await QT.waitForState(marker, .completed, on: client)
                #expect(try await QT.row(lost, on: client).state == "cancelled")
            }
            #expect(try await Self.markers(client) == ["committed"], "the cancelled job's insert rolled back with its completion")
        }
    }
}
