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

    /// Jobs not yet finished, read through the partial index (cheap however much history there is).
    public static func unfinishedCount(client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withOpenConnection { try await JobQueries.unfinishedCount(on: $0, logger: logger) }
    }

    /// Sessions listening for job notifications (a running daemon has one).
    public static func listenerCount(client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withOpenConnection { try await JobQueries.listenerCount(on: $0, logger: logger) }
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
