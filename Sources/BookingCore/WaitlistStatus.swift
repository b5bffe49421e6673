import Foundation

/// Where a waitlist entry is in its life. Only `waiting` and `offered` entries are open.
public enum WaitlistStatus: String, Sendable, Codable, Hashable {
    case waiting
    /// Seats are held for the user until the offer expires.
    case offered
    /// The user got a booking (accepted an offer, or auto-booked).
    case booked
    /// An offer expired unanswered; its seats went back.
    case lapsed
    /// The user left the line.
    case left
    /// The entry passed its own `expiresAt` while waiting.
    case expired
    /// The event was cancelled.
    case cancelled
}
