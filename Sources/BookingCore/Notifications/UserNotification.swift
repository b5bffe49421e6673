import Foundation

/// One message to one user on one channel (a row of `evently.notifications`).
///
/// Named so rather than `Notification` to stay clear of Foundation's type of that name, which
/// every file importing both modules would otherwise have to disambiguate.
public struct UserNotification: Sendable, Codable, Equatable, Identifiable {
    public var id: UUID
    public var userID: UUID
    /// The channel this row is delivered on.
    public var type: NotificationChannel
    public var template: String
    /// The rendered message and the facts it was rendered from (`subject`, `body`, ...).
    public var content: [String: String]
    /// Every channel the message went out on.
    public var channels: [NotificationChannel]
    public var status: NotificationStatus
    public var eventID: UUID?
    public var bookingID: UUID?
    public var providerMessageID: String?
    public var lastError: String?
    public var dedupeKey: String?
    public var createdAt: Date
    public var sentAt: Date?
    public var deliveredAt: Date?
    public var failedAt: Date?
    public var readAt: Date?
    public var skippedAt: Date?

    public init(id: UUID, userID: UUID, type: NotificationChannel, template: String, content: [String: String],
                channels: [NotificationChannel],
                status: NotificationStatus, eventID: UUID?, bookingID: UUID?, providerMessageID: String?,
                lastError: String?, dedupeKey: String?, createdAt: Date, sentAt: Date?, deliveredAt: Date?,
                failedAt: Date?, readAt: Date?, skippedAt: Date?) {
        self.id = id
        self.userID = userID
        self.type = type
        self.template = template
        self.content = content
        self.channels = channels
        self.status = status
        self.eventID = eventID
        self.bookingID = bookingID
        self.providerMessageID = providerMessageID
        self.lastError = lastError
        self.dedupeKey = dedupeKey
        self.createdAt = createdAt
        self.sentAt = sentAt
        self.deliveredAt = deliveredAt
        self.failedAt = failedAt
        self.readAt = readAt
        self.skippedAt = skippedAt
    }
}
