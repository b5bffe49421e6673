import Foundation
import Logging
import PostgresNIO

/// Measurements of the queue for `evently-jobs bench`, including the baseline every figure is
/// compared with: the raw SQL limit of the same database, measured with the very statements the
/// daemon uses, in a tight loop with nothing around them.
public enum QueueBenchmark {
    /// Claims and completes `total` pre-inserted jobs of `queue` with `connections` loops of
    /// claim(`batch`) → complete, and returns jobs per second.
    public static func rawClaimCompleteRate(
        client: PostgresClient, queue: String = "default", batch: Int, connections: Int, logger: Logger
    ) async throws -> (jobs: Int, seconds: Double) {
        let started = ContinuousClock.now
        let done = try await withThrowingTaskGroup(of: Int.self) { group in
            for loop in 0..<connections {
                group.addTask {
                    try await client.withOpenConnection { connection in
                        var done = 0
                        while true {
                            let jobs = try await JobQueries.claim(queue: queue, kinds: [DiagnosticWorkers.Noop.Payload.kind], limit: batch, worker: "raw-\(loop)",
                                                                  lease: .seconds(60), on: connection, logger: logger)
                            if jobs.isEmpty { return done }
                            try await JobQueries.complete(jobs.map { FinishedAttempt(id: $0.id, attempt: $0.attempt, newState: .completed) },
                                                          on: connection, logger: logger)
                            done += jobs.count
                        }
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        return (done, (ContinuousClock.now - started).timeInterval)
    }

    /// The claim-and-complete cycle of ``rawClaimCompleteRate(client:queue:batch:connections:logger:)``
    /// (the daemon's own statements) as a pgbench script, for `pgbench -M simple -f`.
    public static func pgbenchScript(queue: String = "default", batch: Int) -> String {
        JobQueries.pgbenchClaimCompleteScript(queue: queue, kind: DiagnosticWorkers.Noop.Payload.kind, batch: batch, lease: .seconds(60))
    }

    /// Jobs in `completed` (after a pgbench run, which reports transactions, not jobs).
    public static func completedCount(client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withOpenConnection { connection in
            let rows = try await connection.query("SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'", logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// Whether any job is unfinished: what a drain's end is waited for with, every few
    /// milliseconds, so it must stay cheap beside millions of finished jobs.
    public static func anyUnfinished(client: PostgresClient, logger: Logger) async throws -> Bool {
        try await client.withOpenConnection { try await JobQueries.anyUnfinished(on: $0, logger: logger) }
    }

    /// Sessions listening for job notifications (a running daemon has one).
    public static func listenerCount(client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withOpenConnection { try await JobQueries.listenerCount(on: $0, logger: logger) }
    }

    /// Claims and completes jobs of `queue` in batches of `batch` on one connection for
    /// `duration` (or until none is left, or `stop` says so), and returns the seconds each claim
    /// statement took: the latency a daemon's claim sees, whatever else the database is doing.
    public static func claimLatencies(
        client: PostgresClient, queue: String = "default", batch: Int, duration: Duration,
        stop: @escaping @Sendable () -> Bool = { false }, logger: Logger
    ) async throws -> [ClaimLatency] {
        try await client.withOpenConnection { connection in
            var latencies: [ClaimLatency] = []
            let end = ContinuousClock.now + duration
            while ContinuousClock.now < end && !stop() {
                let started = ContinuousClock.now
                let jobs = try await JobQueries.claim(queue: queue, kinds: [DiagnosticWorkers.Noop.Payload.kind], limit: batch,
                                                      worker: "latency", lease: .seconds(60), on: connection, logger: logger)
                latencies.append(ClaimLatency(started: started, seconds: (ContinuousClock.now - started).timeInterval))
                if jobs.isEmpty { break }
                try await JobQueries.complete(jobs.map { FinishedAttempt(id: $0.id, attempt: $0.attempt, newState: .completed) },
                                              on: connection, logger: logger)
            }
            return latencies
        }
    }

    /// One claim statement of ``claimLatencies(client:queue:batch:duration:stop:logger:)``.
    public struct ClaimLatency: Sendable {
        public let started: ContinuousClock.Instant
        public let seconds: Double
    }

    /// The finished jobs older than `retention`: what `queue.prune` (``RetentionWorker/prune(client:retention:logger:)``)
    /// takes away, by dropping days or deleting rows.
    public static func finishedJobs(olderThan retention: Duration, client: PostgresClient, logger: Logger) async throws -> Int {
        let seconds = retention.timeInterval
        return try await client.withOpenConnection { connection in
            let rows = try await connection.query("""
                SELECT count(*)::bigint FROM evently_jobs.jobs
                WHERE state IN (\(unescaped: JobQueries.finishedStates)) AND finalized_at < now() - \(seconds) * interval '1 second'
                """, logger: logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    /// Lays an empty database's history out by day, as a database that has run q0005 for a
    /// while has it: drops the (empty) legacy partition and today's, then makes the partitions of
    /// the `days` days before today, today and the coming days. Refused when a job has finished.
    public static func partitionHistoryByDay(days: Int, client: PostgresClient, logger: Logger) async throws {
        try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                let rows = try await connection.query("SELECT EXISTS (SELECT 1 FROM evently_jobs.jobs_finished)", logger: logger)
                for try await any in rows.decode(Bool.self) where any {
                    throw QueueError.unexpected("the history is laid out by day on an empty database only")
                }
                try await connection.query("""
                    DO $$
                    DECLARE
                        today text := 'jobs_finished_' || to_char((now() AT TIME ZONE 'UTC')::date, 'YYYYMMDD');
                    BEGIN
                        EXECUTE 'DROP TABLE evently_jobs.jobs_finished_legacy';
                        EXECUTE format('DROP TABLE IF EXISTS evently_jobs.%I', today);
                    END
                    $$
                    """, logger: logger)
                try await connection.query("SELECT evently_jobs.prepare_finished_partitions(3, \(-days)::int)", logger: logger)
            }
        }
    }

    /// Deletes the jobs of `kind` with ids above `id` (a drain's jobs, so a history filled up to
    /// `id` stays as it was filled).
    public static func delete(kind: String, after id: Int64 = 0, client: PostgresClient, logger: Logger) async throws {
        try await client.withOpenConnection { connection in
            try await connection.query("DELETE FROM evently_jobs.jobs WHERE kind = \(kind) AND id > \(id)", logger: logger)
        }
    }

    /// The highest job id so far (0 without jobs).
    public static func lastJobID(client: PostgresClient, logger: Logger) async throws -> Int64 {
        try await client.withOpenConnection { connection in
            let rows = try await connection.query("SELECT coalesce(max(id), 0)::bigint FROM evently_jobs.jobs", logger: logger)
            for try await id in rows.decode(Int64.self) { return id }
            return 0
        }
    }

    /// Deletes every job (between rounds).
    public static func reset(client: PostgresClient, logger: Logger) async throws {
        try await client.withOpenConnection { try await JobQueries.deleteAll(on: $0, logger: logger) }
    }

    /// Reclaims dead rows and refreshes statistics of the jobs table (before a measured round).
    public static func analyze(client: PostgresClient, logger: Logger) async throws {
        try await client.withOpenConnection { try await JobQueries.analyze(on: $0, logger: logger) }
    }
}
