import Logging
import PostgresNIO

/// `queue.prune`: drops the days' partitions of finished jobs older than the retention (q0005),
/// then deletes what is left older than it, 10,000 per statement, so one run never holds long
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

    /// Rows per statement.
    public static let batch = 10_000

    public func work(_ payload: Payload, context: JobContext) async throws {
        let retention = payload.retentionSeconds.map { Duration.seconds($0) } ?? self.retention
        let pruned = try await Self.prune(client: client, retention: retention, logger: context.logger)
        context.logger.info("""
            pruned finished jobs older than \(retention): \(pruned.droppedDays) day(s) dropped whole, \(pruned.deletedRows) \
            row(s) deleted; \(pruned.madeDays) partition(s) made for the coming days
            """)
    }

    public struct Pruned: Sendable {
        public var droppedDays: Int
        public var deletedRows: Int
        public var madeDays: Int
    }

    /// What a run does (also timed by `evently-jobs bench --history`): drops the days older than
    /// `retention`, makes the coming days, then deletes the rest older than `retention` in
    /// statements of ``batch`` rows until none is left (or the task is cancelled).
    public static func prune(client: PostgresClient, retention: Duration, logger: Logger) async throws -> Pruned {
        var pruned = try await client.withOpenConnection { connection in
            Pruned(droppedDays: try await JobQueries.dropFinishedPartitions(retention: retention, on: connection, logger: logger),
                   deletedRows: 0,
                   madeDays: try await JobQueries.prepareFinishedPartitions(on: connection, logger: logger))
        }
        while true {
            let deleted = try await client.withOpenConnection { connection in
                try await JobQueries.prune(retention: retention, limit: Self.batch, on: connection, logger: logger)
            }
            pruned.deletedRows += deleted
            if deleted < Self.batch { return pruned }
            try Task.checkCancellation()
        }
    }
}
