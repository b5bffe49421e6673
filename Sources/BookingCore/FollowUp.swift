import Foundation

/// Work a use case implies, as plain data. The caller turns each into a job on the same
/// connection, so the change and its jobs commit or roll back together.
public enum FollowUp: Sendable, Equatable, Hashable, Codable {
    /// Tell a user something.
    case notify(Notice)
    /// Seats of this event freed up: offer or book them for the waitlist.
    case promoteWaitlist(eventID: UUID)
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
