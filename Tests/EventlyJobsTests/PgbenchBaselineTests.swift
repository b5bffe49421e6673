import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// The pgbench baseline of `evently-jobs bench`: PostgreSQL's pgbench runs the daemon's own claim
/// and complete statements until the queue is empty.
@Suite(.timeLimit(.minutes(3))) struct PgbenchBaselineTests {
    @Test func pgbenchDrainsTheQueueWithTheDaemonsStatements() async throws {
        var configuration = try await TestDatabase.makeDatabase()
        configuration.options.maximumConnections = 4
        try await TestDatabase.withClient(configuration: configuration) { client in
            let logger = TestDatabase.logger
            try await SchemaMigrator(migrations: QueueSchema.migrations, logger: logger).migrate(client)
            let jobs = JobClient(client: client, logger: logger)
            _ = try await jobs.enqueue(Array(repeating: NewJob(kind: "diag.noop"), count: 1_050))
            // Another kind and a later run time are left alone, as the daemon's claim leaves them.
            let other = try await jobs.enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": 1}"#)).id
            let later = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(runAt: Date().addingTimeInterval(3_600)))).id

            let rate = try await PgbenchBaseline.drain(jobs: 1_050, batch: 100, clients: 3,
                                                       databaseURL: BenchCommand.url(for: configuration), client: client, logger: logger)
            #expect(rate > 0)
            let completed = try await QueueBenchmark.completedCount(client: client, logger: logger)
            #expect(completed == 1_050)
            let rows = try await client.query("""
                SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed' AND attempt = 1 AND attempted_by = 'pgbench'
                """, logger: logger)
            for try await count in rows.decode(Int.self) { #expect(count == 1_050, "each job claimed once, completed once") }
            #expect(try await jobs.job(id: other).state == .available)
            #expect(try await jobs.job(id: later).state == .scheduled)
        }
    }
}
