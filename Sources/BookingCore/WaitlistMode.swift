import Foundation

/// What promotion does when seats free up for an event's waitlist.
public enum WaitlistMode: String, Sendable, Codable, Hashable {
    /// Hold the seats for the next in line for an offer window; they accept or it lapses.
    case offer
    /// Book the next in line directly.
    case autoBook = "auto_book"
}
