import Foundation

/// Work a use case implies, as plain data. The caller turns each into a job on the same
/// connection, so the change and its jobs commit or roll back together.
public enum FollowUp: Sendable, Equatable, Hashable, Codable {
    /// Tell a user something.
    case notify(Notice)
    /// Seats of this event freed up: offer or book them for the waitlist.
    case promoteWaitlist(eventID: UUID)
}

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

extension FollowUp {
    /// Shorthand for `.notify(Notice(...))`.
    public static func notify(userID: UUID, template: NotificationTemplate, eventID: UUID, bookingID: UUID? = nil,
                              waitlistEntryID: UUID? = nil, channels: [NotificationChannel]? = nil) -> FollowUp {
        .notify(Notice(userID: userID, template: template, eventID: eventID, bookingID: bookingID,
                       waitlistEntryID: waitlistEntryID, channels: channels))
    }

    /// The notice, when this is a `.notify`.
    public var notice: Notice? {
        if case .notify(let notice) = self { return notice }
        return nil
    }
}

/// A use case's result and the follow-up work it implies.
public struct Outcome<Value: Sendable>: Sendable {
    public var value: Value
    public var followUps: [FollowUp]

    public init(_ value: Value, followUps: [FollowUp] = []) {
        self.value = value
        self.followUps = followUps
    }
}

extension Outcome: Equatable where Value: Equatable {}
