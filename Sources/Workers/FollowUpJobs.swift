import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// Turns a use case's follow-ups into rows and jobs on the caller's connection, inside the
/// caller's transaction: a booking and the work it implies commit or roll back together.
///
/// Every notice is stored as an in-app notification at once (that channel needs no delivery);
/// a freed-seats follow-up becomes a `waitlist.promote` job.
public struct FollowUpJobs: Sendable {
    let notifications: NotificationStore
    let logger: Logger

    public init(logger: Logger) {
        self.notifications = NotificationStore(logger: logger)
        self.logger = logger
    }

    /// The jobs `followUps` imply (without storing anything).
    public static func jobs(for followUps: [FollowUp]) throws -> [NewJob] {
        var seen = Set<UUID>()
        return try followUps.compactMap { followUp in
            guard case .promoteWaitlist(let eventID) = followUp, seen.insert(eventID).inserted else { return nil }
            return try NewJob(WaitlistPromotionWorker.Payload(eventID: eventID))
        }
    }

    public func apply(_ followUps: [FollowUp], now: Date, on connection: PostgresConnection) async throws {
        for notice in followUps.compactMap(\.notice) {
            _ = try await notifications.create(from: notice, type: .inApp, now: now, on: connection)
        }
        try await JobClient.enqueue(try Self.jobs(for: followUps), on: connection, logger: logger)
    }
}

/// Rules shared by the intake and the waitlist workers, from jobs.conf `[booking]`.
public struct BookingSettings: Sendable {
    public var maxQuantity: Int
    /// How long a waitlist offer holds its seats.
    public var offerWindow: Duration
    public var pricing: PricingPolicy

    public init(maxQuantity: Int = 10, offerWindow: Duration = .seconds(900), pricing: PricingPolicy = .standard) {
        self.maxQuantity = maxQuantity
        self.offerWindow = offerWindow
        self.pricing = pricing
    }
}
