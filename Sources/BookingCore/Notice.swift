import Foundation

/// A message to send to one user: which template and the ids its facts are read from.
public struct Notice: Sendable, Equatable, Hashable, Codable {
    public var userID: UUID
    public var template: NotificationTemplate
    public var eventID: UUID
    public var bookingID: UUID?
    public var waitlistEntryID: UUID?
    /// The channels to use; `nil` lets the sender choose from the user's details.
    public var channels: [NotificationChannel]?

    /// Job payloads carry notices: snake_case like every other payload field.
    enum CodingKeys: String, CodingKey {
        case userID = "user_id", template, eventID = "event_id", bookingID = "booking_id"
        case waitlistEntryID = "waitlist_entry_id", channels
    }

    public init(userID: UUID, template: NotificationTemplate, eventID: UUID, bookingID: UUID? = nil,
                waitlistEntryID: UUID? = nil, channels: [NotificationChannel]? = nil) {
        self.userID = userID
        self.template = template
        self.eventID = eventID
        self.bookingID = bookingID
        self.waitlistEntryID = waitlistEntryID
        self.channels = channels
    }
}
