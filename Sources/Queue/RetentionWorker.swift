import Logging
import PostgresNIO

/// `queue.prune`: drops the days' partitions of finished jobs older than the retention (q0005),
/// then deletes what is left older than it, 2,000 per statement, so one run never holds long
/// locks. Scheduled hourly by the shipped jobs.conf. It also makes the coming days' partitions,
/// as each daemon does hourly.
public struct RetentionWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "queue.prune"
        /// Overrides the configured retention for this run.
        public var retentionSeconds: Int?
        public init(retentionSeconds: Int? = nil) { self.retentionSeconds = retentionSeconds }
        enum CodingKeys: String, CodingKey { case retentionSeconds = "retention_seconds" }
    }

    let client: PostgresClient
    let retention: Duration

    public init(client: PostgresClient, retention: Duration) {
        self.client = client
        self.retention = retention
    }

    /// Rows per statement. Each statement's WAL is written before the commits of claims that
    /// follow it: with 10,000, claim p99 during a row-by-row prune of 5 million rows was 3.2 × the
    /// quiet p99, with 2,000 2.1 ×, with 1,000 2.2 × and the prune 40 % slower (BENCHMARKS.md,
    /// "History at volume, partitioned").
    public static let batch = 2_000

    /// After each of its statements the prune rests as long as the statement took (`since` its
    /// start), as PostgreSQL's own vacuum rests (`vacuum_cost_delay`): it uses at most about half
    /// of what it could, and claims beside it share the machine with half a prune. Measured on
    /// 2 cores, claim p99 during a prune ÷ quiet p99 beside 3 M finished jobs: 2.25 without rests,
    /// 1.60 with (BENCHMARKS.md, "A prune that rests"); the prune takes about twice as long.
    /// Cancellation ends the rest.
    static func rest(since started: ContinuousClock.Instant, atLeast minimum: Duration = .zero) async throws {
        try await Task.sleep(for: max(ContinuousClock.now - started, minimum))
    }

    /// The least rest after dropping a day. A `DROP` returns in tens of milliseconds, but the
    /// file system frees the day's files (hundreds of megabytes) after its commit: with rests
    /// only as long as the statement, half of the slowest claims during a prune of 10 M rows
    /// fell in the three seconds in which 16 days were dropped.
    static let restAfterDrop: Duration = .seconds(1)

    /// Rests make a run twice as long: the first run after an upgrade from q0004, deleting a
    /// large legacy history row by row, may need more than the default job timeout (5 m).
    /// What a run deleted stays deleted; a run cut short is retried and goes on.
    public var timeout: Duration? { .seconds(30 * 60) }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let retention = payload.retentionSeconds.map { Duration.seconds($0) } ?? self.retention
        let pruned = try await Self.prune(client: client, retention: retention, logger: context.logger)
        context.logger.info("""
            pruned finished jobs older than \(retention): \(pruned.droppedDays) day(s) dropped whole in \(pruned.dropping), \
            \(pruned.deletedRows) row(s) deleted in \(pruned.deleting); \(pruned.madeDays) partition(s) made for the coming days
            """)
    }

    public struct Pruned: Sendable {
        public var droppedDays: Int
        public var deletedRows: Int
        public var madeDays: Int
        /// How long dropping the days took, and then deleting the rows.
        public var dropping: Duration = .zero
        public var deleting: Duration = .zero
    }

    /// What a run does (also timed by `evently-jobs bench --history`): drops the days older than
    /// `retention`, makes the coming days, then deletes the rest older than `retention` in
    /// statements of ``batch`` rows until none is left (or the task is cancelled).
    public static func prune(client: PostgresClient, retention: Duration, logger: Logger) async throws -> Pruned {
        // Dropping or making a day waits at most 500 ms for its lock (q0005); when it cannot have
        // it (a long reader of the history), the rows are still deleted and the next run drops.
        func unlessLocked(_ what: String, _ change: @escaping @Sendable (PostgresConnection) async throws -> Int) async throws -> Int {
            do {
                return try await client.withOpenConnection { try await change($0) }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55P03" {
                logger.warning("queue.prune could not \(what) now (the history is in use): \(readableDescription(of: error))")
                return 0
            }
        }
        let started = ContinuousClock.now
        var pruned = Pruned(droppedDays: 0, deletedRows: 0, madeDays: 0)
        // Oldest day first, one per transaction: jobs finishing meanwhile wait for one DROP.
        while true {
            let dropStarted = ContinuousClock.now
            let dropped = try await unlessLocked("drop old days") {
                try await JobQueries.dropFinishedPartitions(retention: retention, atMost: 1, on: $0, logger: logger)
            }
            guard dropped > 0 else { break }
            pruned.droppedDays += dropped
            try await rest(since: dropStarted, atLeast: Self.restAfterDrop)
        }
        pruned.dropping = ContinuousClock.now - started
        pruned.madeDays = try await unlessLocked("make the coming days") {
            try await JobQueries.prepareFinishedPartitions(on: $0, logger: logger)
        }
        let deletingStarted = ContinuousClock.now
        while true {
            let deleteStarted = ContinuousClock.now
            let deleted = try await client.withOpenConnection { connection in
                try await JobQueries.prune(retention: retention, limit: Self.batch, on: connection, logger: logger)
            }
            pruned.deletedRows += deleted
            if deleted < Self.batch {
                pruned.deleting = ContinuousClock.now - deletingStarted
                return pruned
            }
            try await rest(since: deleteStarted)
        }
    }
}
