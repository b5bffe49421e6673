import Foundation

/// The result of ``BookingStore/book(userID:eventID:quantity:idempotencyKey:requestHash:now:pricing:on:)``.
public struct BookingOutcome: Sendable, Equatable {
    public var booking: Booking
    /// `true` when an earlier booking with the same idempotency key was returned (nothing new
    /// was booked, and there is nothing to follow up).
    public var isReplay: Bool
    /// The work the booking implies; the caller enqueues it in the same transaction.
    public var followUps: [FollowUp]

    public init(booking: Booking, isReplay: Bool, followUps: [FollowUp]) {
        self.booking = booking
        self.isReplay = isReplay
        self.followUps = followUps
    }
}
