import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

/// `RetentionWorker`: the `queue.prune` job deletes finished jobs older than the retention.
@Suite(.timeLimit(.minutes(5))) struct RetentionWorkerTests {
    let logger = TestDatabase.logger

    // MARK: Pruning

    @Test func finishedJobsPastRetentionArePruned() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            try await QT.execute(sql: """
                INSERT INTO evently_jobs.jobs (kind, state, finalized_at, created_at, run_at) VALUES
                  ('old.completed', 'completed', now() - interval '2 hours', now() - interval '3 hours', now() - interval '3 hours'),
                  ('old.discarded', 'discarded', now() - interval '2 hours', now() - interval '3 hours', now() - interval '3 hours'),
                  ('new.completed', 'completed', now() - interval '1 minute', now() - interval '3 hours', now() - interval '3 hours'),
                  ('old.scheduled', 'scheduled', NULL, now() - interval '3 hours', now() + interval '1 hour')
                """, on: client)
            var registry = try QT.registry()
            try registry.register(RetentionWorker(client: client, retention: .seconds(3600)))
            let prune = try await JobClient(client: client, logger: logger).enqueue(RetentionWorker.Payload()).id
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                try await QT.waitForState(prune, .completed, on: client)
            }
            let rows = try await client.query(
                "SELECT kind FROM evently_jobs.jobs WHERE kind <> 'queue.prune' ORDER BY kind", logger: logger)
            var kinds: [String] = []
            for try await kind in rows.decode(String.self) { kinds.append(kind) }
            #expect(kinds == ["new.completed", "old.scheduled"])
        }
    }

    /// What `evently-jobs bench --history` runs: claims timed on one connection while the
    /// prune's statements delete old history beside them, in batches of 10,000.
    @Test func claimsGoOnWhileAPruneDeletesOldHistory() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            try await QT.execute(sql: """
                INSERT INTO evently_jobs.jobs (kind, state, finalized_at, created_at, run_at)
                SELECT 'history', 'completed', now() - CASE WHEN g % 2 = 0 THEN interval '20 days' ELSE interval '1 day' END,
                       now() - interval '30 days', now() - interval '30 days'
                FROM generate_series(1, 25000) AS g
                """, on: client)
            // History holds jobs of the drain's own kind too: the bench must leave them.
            try await QT.execute(sql: """
                INSERT INTO evently_jobs.jobs (kind, state, finalized_at, created_at, run_at)
                VALUES ('diag.noop', 'completed', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day')
                """, on: client)
            let filledUpTo = try await QueueBenchmark.lastJobID(client: client, logger: logger)
            #expect(filledUpTo >= 25_001)
            let queue = JobClient(client: client, logger: logger)
            #expect(try await QueueBenchmark.anyUnfinished(client: client, logger: logger) == false, "history only")
            try await queue.enqueue(Array(repeating: NewJob(kind: DiagnosticWorkers.Noop.Payload.kind), count: 3_000))
            #expect(try await QueueBenchmark.anyUnfinished(client: client, logger: logger))
            async let pruned = QueueBenchmark.prune(client: client, retention: .seconds(15 * 86_400), logger: logger)
            let latencies = try await QueueBenchmark.claimLatencies(client: client, batch: 100, duration: .seconds(60), logger: logger)
            #expect(try await pruned == 12_500, "every row past the retention, in two statements of 10,000 and one of 2,500")
            #expect(latencies.count == 31, "30 claims of 100, then one that found none")
            #expect(latencies.allSatisfy { $0 > 0 })
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs WHERE kind = 'history'", on: client) == 12_500)
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs WHERE state = 'completed' AND kind = 'diag.noop'",
                                       on: client) == 3_001)
            #expect(try await QueueBenchmark.anyUnfinished(client: client, logger: logger) == false, "every claimed job completed")
            try await QueueBenchmark.delete(kind: DiagnosticWorkers.Noop.Payload.kind, after: filledUpTo, client: client, logger: logger)
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs", on: client) == 12_501,
                    "the drain's 3,000 jobs deleted, the history's own no-op kept")
        }
    }
}
