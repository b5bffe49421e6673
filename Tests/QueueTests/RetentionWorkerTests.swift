import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
@testable import Queue
import Testing

/// `RetentionWorker`: the `queue.prune` job drops the days and deletes the finished jobs older
/// than the retention.
@Suite(.timeLimit(.minutes(5))) struct RetentionWorkerTests {
    let logger = TestDatabase.logger

    // MARK: Pruning

    /// After each statement the prune rests as long as the statement took, as vacuum's cost delay
    /// rests: claims beside it share the machine with half a prune (BENCHMARKS.md).
    @Test func thePruneRestsAsLongAsEachStatementTook() async throws {
        let statementStarted = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(200))
        try await RetentionWorker.rest(since: statementStarted)
        #expect(ContinuousClock.now - statementStarted >= .milliseconds(400))
        let dropStarted = ContinuousClock.now
        try await RetentionWorker.rest(since: dropStarted, atLeast: .milliseconds(300))
        #expect(ContinuousClock.now - dropStarted >= .milliseconds(300), "at least the minimum after a quick statement")
    }

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
    /// prune's statements delete old history beside them, in batches of 2,000.
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
            let older = try await QueueBenchmark.finishedJobs(olderThan: .seconds(15 * 86_400), client: client, logger: logger)
            async let pruned = RetentionWorker.prune(client: client, retention: .seconds(15 * 86_400), logger: logger)
            let latencies = try await QueueBenchmark.claimLatencies(client: client, batch: 100, duration: .seconds(60), logger: logger)
            let done = try await pruned
            #expect(older == 12_500 && done.deletedRows == 12_500,
                    "every row past the retention (in the legacy partition), in six statements of 2,000 and one of 500")
            #expect(latencies.count == 31, "30 claims of 100, then one that found none")
            #expect(latencies.allSatisfy { $0.seconds > 0 })
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs WHERE kind = 'history'", on: client) == 12_500)
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs WHERE state = 'completed' AND kind = 'diag.noop'",
                                       on: client) == 3_001)
            #expect(try await QueueBenchmark.anyUnfinished(client: client, logger: logger) == false, "every claimed job completed")
            try await QueueBenchmark.delete(kind: DiagnosticWorkers.Noop.Payload.kind, after: filledUpTo, client: client, logger: logger)
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs", on: client) == 12_501,
                    "the drain's 3,000 jobs deleted, the history's own no-op kept")
        }
    }

    /// `bench --history` lays its history out by day (as after a month on q0005): the prune then
    /// drops whole days and deletes only the rows of the day the cut-off falls in.
    @Test func aHistoryLaidOutByDayIsPrunedByDroppingDays() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            try await QueueBenchmark.partitionHistoryByDay(days: 31, client: client, logger: logger)
            #expect(try await QT.count("""
                SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'evently_jobs.jobs_finished'::regclass
                """, on: client) == 31 + 1 + 3 + 1, "31 days before today, today, 3 ahead and the default")
            try await QT.execute(sql: """
                INSERT INTO evently_jobs.jobs (kind, state, finalized_at, created_at, run_at)
                SELECT 'history', 'completed', now() - g * interval '1 hour', now() - interval '31 days', now() - interval '31 days'
                FROM generate_series(0, 30 * 24 - 1) AS g
                """, on: client)
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs_finished_default", on: client) == 0,
                    "every hour of the month has its day")
            let older = try await QueueBenchmark.finishedJobs(olderThan: .seconds(15 * 86_400), client: client, logger: logger)
            let done = try await RetentionWorker.prune(client: client, retention: .seconds(15 * 86_400), logger: logger)
            // Hour 360 too: the prune's clock is later than the insert's.
            #expect(older == 30 * 24 - 15 * 24, "the hours before the cut-off")
            #expect(done.droppedDays == 16, "the 16 days that ended before the cut-off went whole")
            #expect(done.dropping >= .seconds(16), "a rest of at least a second after each day")
            #expect(done.deletedRows < 24, "only the cut-off's own day was deleted from row by row")
            #expect(try await QT.count("SELECT count(*)::int FROM evently_jobs.jobs", on: client) == 15 * 24)
            await #expect(throws: (any Error).self, "a database with finished jobs is not laid out again") {
                try await QueueBenchmark.partitionHistoryByDay(days: 31, client: client, logger: logger)
            }
        }
    }
}
