import BookingCore
import Foundation
import PostgresNIO
import Queue

/// `notifications.prune`: deletes notifications older than the configured age (90 days by
/// default), in batches so no statement holds many locks.
public struct NotificationPruneWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "notifications.prune"
        public init() {}
    }

    let client: PostgresClient
    let retention: Duration

    public init(client: PostgresClient, retention: Duration) {
        self.client = client
        self.retention = retention
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let cutoff = Date().addingTimeInterval(-Double(retention.components.seconds))
        var total = 0
        while true {
            let deleted = try await client.withOpenConnection {
                try await NotificationStore(logger: logger).deleteCreated(before: cutoff, limit: 5_000, on: $0)
            }
            total += deleted
            if deleted < 5_000 { break }
        }
        if total > 0 { logger.info("deleted \(total) notification(s) older than \(retention)") }
    }
}
