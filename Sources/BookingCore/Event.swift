import Foundation

/// An event with seats to sell.
public struct Event: Sendable, Codable, Equatable, Identifiable {
    public var id: UUID
    public var name: String
    public var venue: String
    public var startsAt: Date
    public var totalCapacity: Int
    /// Seats neither booked nor held by a waitlist offer.
    public var availableSeats: Int
    /// The seat price before dynamic pricing (see ``PricingPolicy``).
    public var basePrice: Decimal
    public var waitlistMode: WaitlistMode
    public var status: EventStatus
    /// Rises with every change, seat counts included; the ETag of admin edits.
    public var version: Int
    public var createdBy: UUID
    public var createdAt: Date
    public var updatedAt: Date

    /// Seats booked or held by offers.
    public var takenSeats: Int { totalCapacity - availableSeats }

    public init(id: UUID, name: String, venue: String, startsAt: Date, totalCapacity: Int, availableSeats: Int,
                basePrice: Decimal, waitlistMode: WaitlistMode, status: EventStatus, version: Int, createdBy: UUID,
                createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.venue = venue
        self.startsAt = startsAt
        self.totalCapacity = totalCapacity
        self.availableSeats = availableSeats
        self.basePrice = basePrice
        self.waitlistMode = waitlistMode
        self.status = status
        self.version = version
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
