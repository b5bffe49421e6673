/// Delivery state of a notification row.
public enum NotificationStatus: String, Sendable, Codable, Hashable {
    case queued
    case sent
    case delivered
    case failed
    case read
    /// Not sent on purpose (e.g. SMS for a user without a phone number).
    case skipped
}
