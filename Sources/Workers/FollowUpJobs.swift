import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// Turns a use case's follow-ups into jobs on the caller's connection, inside the caller's
/// transaction: a booking and the work it implies commit or roll back together.
///
/// The notices become one `notifications.dispatch` job (which stores a row per channel and
/// enqueues each delivery, see ``NotificationDispatch``); a freed-seats follow-up becomes a
/// `waitlist.promote` job. One job row is all a booking adds while it holds its event's row
/// lock: on a sold-out hot event that lock is the bottleneck.
public struct FollowUpJobs: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// The jobs `followUps` imply (without storing anything).
    public static func jobs(for followUps: [FollowUp]) throws -> [NewJob] {
        var seen = Set<UUID>()
        var jobs: [NewJob] = try followUps.compactMap { followUp in
            guard case .promoteWaitlist(let eventID) = followUp, seen.insert(eventID).inserted else { return nil }
            return try NewJob(WaitlistPromotionWorker.Payload(eventID: eventID))
        }
        let notices = followUps.compactMap(\.notice)
        if !notices.isEmpty {
            jobs.append(try NewJob(NotificationDispatchWorker.Payload(notices: notices), options: NotificationDispatch.jobOptions))
        }
        return jobs
    }

    /// Enqueues the jobs `followUps` imply on `connection`, in the caller's transaction.
    public func apply(_ followUps: [FollowUp], on connection: PostgresConnection) async throws {
        try await JobClient.enqueue(try Self.jobs(for: followUps), on: connection, logger: logger)
    }
}
