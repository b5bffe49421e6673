import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// `waitlist.promote`: seats of an event were freed; offer them (or book them) to the waitlist
/// in order, and notify who got them, in one transaction with the job's own completion (a
/// crash leaves neither; an attempt that lost its job to a rescue or a cancel rolls back).
public struct WaitlistPromotionWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "waitlist.promote"
        public var eventID: UUID
        public init(eventID: UUID) { self.eventID = eventID }
        enum CodingKeys: String, CodingKey { case eventID = "event_id" }
    }

    let client: PostgresClient
    let settings: BookingSettings

    public init(client: PostgresClient, settings: BookingSettings) {
        self.client = client
        self.settings = settings
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let settings = self.settings
        let offered = try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                let now = Date()
                let outcome = try await WaitlistStore(logger: logger).promote(
                    eventID: payload.eventID, now: now, offerWindow: settings.offerWindow, pricing: settings.pricing, on: connection)
                try await FollowUpJobs(logger: logger).apply(outcome.followUps, on: connection)
                // Database-only work: the offers and this job's completion commit together.
                try await context.complete(on: connection)
                return outcome.value.count
            }
        }
        if offered > 0 { logger.info("promoted \(offered) waitlist entr\(offered == 1 ? "y" : "ies")") }
    }
}
