import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// `reminders.scan`: before each event, every holder of a confirmed booking gets one reminder
/// per configured offset (24 h and 1 h by default) on their channels. Scheduled every minute;
/// running it more often, or on several daemons at once, sends nothing twice (see
/// ``ReminderStore/claimDue(offsets:now:limit:on:)``).
public struct ReminderScanWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "reminders.scan"
        public init() {}
    }

    let client: PostgresClient
    let offsets: [Int]

    public init(client: PostgresClient, offsets: [Duration]) {
        self.client = client
        self.offsets = Array(Set(offsets.map { Int($0.components.seconds) }.filter { $0 > 0 })).sorted()
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let offsets = self.offsets
        var total = 0
        // Batches in their own transactions keep each one short; the loop ends when a batch
        // comes back smaller than asked.
        while true {
            let batch = 500
            let claimed = try await client.withOpenConnection { connection in
                try await connection.transaction(logger: logger) { connection in
                    let now = Date()
                    let due = try await ReminderStore(logger: logger).claimDue(offsets: offsets, now: now, limit: batch, on: connection)
                    let notices = due.map {
                        Notice(userID: $0.userID, template: .reminder, eventID: $0.eventID, bookingID: $0.bookingID)
                    }
                    let keys = due.map { Optional("reminder:\($0.bookingID.uuidString.lowercased()):\($0.offsetSeconds)") }
                    try await NotificationDispatch(logger: logger).send(notices, dedupeKeys: keys, now: now, on: connection)
                    return due.count
                }
            }
            total += claimed
            if claimed < batch { break }
        }
        if total > 0 { logger.info("sent \(total) reminder(s)") }
    }
}
