import BookingCore
import Foundation
import PostgresNIO
import Queue

/// `events.complete`: active events that started long enough ago (`after_start_minutes`,
/// 6 hours by default) become `completed`. Scheduled in jobs.conf; idempotent, so a rerun or a
/// second daemon's tick changes nothing more.
public struct EventCompletionWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "events.complete"
        /// How long after its start an event counts as ended (we store no end time).
        public var afterStartMinutes: Int?
        public init(afterStartMinutes: Int? = nil) { self.afterStartMinutes = afterStartMinutes }
        enum CodingKeys: String, CodingKey { case afterStartMinutes = "after_start_minutes" }
    }

    /// An event counts as ended this long after it starts, unless the job says otherwise.
    public static let defaultAfterStart: Duration = .seconds(6 * 3_600)

    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let after = payload.afterStartMinutes.map { Duration.seconds(max(0, $0) * 60) } ?? Self.defaultAfterStart
        var total = 0
        // Batches of 1,000, each its own short transaction, until none is left.
        while true {
            let completed = try await client.withOpenConnection { connection in
                try await connection.transaction(logger: logger) { connection in
                    try await EventStore(logger: logger).completeEnded(now: Date(), endedAfter: after, on: connection)
                }
            }
            total += completed.count
            if completed.count < 1_000 { break }
        }
        if total > 0 { logger.info("marked \(total) ended event(s) completed") }
    }
}
