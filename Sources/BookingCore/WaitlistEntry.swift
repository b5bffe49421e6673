import Foundation

/// A user in line for seats of a full event.
public struct WaitlistEntry: Sendable, Codable, Equatable, Identifiable {
    public var id: UUID
    public var userID: UUID
    public var eventID: UUID
    public var quantity: Int
    /// Higher goes first.
    public var priorityScore: Int
    public var joinedAt: Date
    public var status: WaitlistStatus
    public var channels: [NotificationChannel]
    public var offerExpiresAt: Date?
    public var offeredSeats: Int?
    /// The price of the held seats, fixed when the offer was made.
    public var offeredAmount: Decimal?
    public var bookingID: UUID?
    /// The entry's own end, if the user set one.
    public var expiresAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    /// 1-based place among waiting entries (priority score, then join time), computed on read;
    /// `nil` when the entry is not waiting or was not read with its position.
    public var position: Int?

    public init(id: UUID, userID: UUID, eventID: UUID, quantity: Int, priorityScore: Int, joinedAt: Date,
                status: WaitlistStatus, channels: [NotificationChannel], offerExpiresAt: Date?, offeredSeats: Int?,
                offeredAmount: Decimal?, bookingID: UUID?, expiresAt: Date?, createdAt: Date, updatedAt: Date,
                position: Int? = nil) {
        self.id = id
        self.userID = userID
        self.eventID = eventID
        self.quantity = quantity
        self.priorityScore = priorityScore
        self.joinedAt = joinedAt
        self.status = status
        self.channels = channels
        self.offerExpiresAt = offerExpiresAt
        self.offeredSeats = offeredSeats
        self.offeredAmount = offeredAmount
        self.bookingID = bookingID
        self.expiresAt = expiresAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.position = position
    }
}
