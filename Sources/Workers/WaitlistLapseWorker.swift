import BookingCore
import Foundation
import PostgresNIO
import Queue

/// `waitlist.lapse_offers`: offers past their window give their seats back (and the next in
/// line is offered them); waitlist entries past their own expiry leave the line.
public struct WaitlistLapseWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "waitlist.lapse_offers"
        public init() {}
    }

    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let (lapsed, expired) = try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                let now = Date()
                let store = WaitlistStore(logger: logger)
                let lapsed = try await store.lapseExpiredOffers(now: now, on: connection)
                let expired = try await store.expireEntries(now: now, on: connection)
                try await FollowUpJobs(logger: logger).apply(lapsed.followUps + expired.followUps, on: connection)
                try await context.complete(on: connection)
                return (lapsed.value.count, expired.value.count)
            }
        }
        if lapsed + expired > 0 { logger.info("lapsed \(lapsed) offer(s), expired \(expired) waitlist entr(ies)") }
    }
}
