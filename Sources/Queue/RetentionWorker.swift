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
        let (dropped, made) = try await client.withOpenConnection { connection in
            (try await JobQueries.dropFinishedPartitions(retention: retention, on: connection, logger: context.logger),
             try await JobQueries.prepareFinishedPartitions(on: connection, logger: context.logger))
        }
        if dropped > 0 || made > 0 {
            context.logger.info("dropped \(dropped) day(s) of finished jobs older than \(retention); made \(made) partition(s) for the coming days")
        }
        var total = 0
        while true {
            let deleted = try await client.withOpenConnection { connection in
                try await JobQueries.prune(retention: retention, limit: Self.batch, on: connection, logger: context.logger)
            }
            total += deleted
            if deleted < Self.batch { break }
            try Task.checkCancellation()
        }
        context.logger.info("pruned \(total) finished job(s) older than \(retention)")
    }
}
