import Foundation

/// Where an event is in its life.
public enum EventStatus: String, Sendable, Codable, Hashable {
    case active
    case cancelled
    case completed
}

/// What promotion does when seats free up for an event's waitlist.
public enum WaitlistMode: String, Sendable, Codable, Hashable {
    /// Hold the seats for the next in line for an offer window; they accept or it lapses.
    case offer
    /// Book the next in line directly.
    case autoBook = "auto_book"
}

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

/// The input of ``EventStore/create(_:by:now:on:)``.
public struct NewEvent: Sendable, Equatable {
    public var name: String
    public var venue: String
    public var startsAt: Date
    public var capacity: Int
    public var basePrice: Decimal
    public var waitlistMode: WaitlistMode

    public init(name: String, venue: String, startsAt: Date, capacity: Int, basePrice: Decimal,
                waitlistMode: WaitlistMode = .offer) {
        self.name = name
        self.venue = venue
        self.startsAt = startsAt
        self.capacity = capacity
        self.basePrice = basePrice
        self.waitlistMode = waitlistMode
    }

    /// Checks every field; throws ``BookingError/invalidInput(field:reason:)`` for the first bad one.
    public func validate() throws(BookingError) {
        try EventRules.checkName(name, field: "name")
        try EventRules.checkName(venue, field: "venue")
        try EventRules.checkCapacity(capacity)
        try EventRules.checkPrice(basePrice)
    }
}

/// An admin edit: `nil` fields stay as they are.
public struct EventChanges: Sendable, Equatable {
    public var name: String?
    public var venue: String?
    public var startsAt: Date?
    /// A new capacity moves `availableSeats` by the same amount; it may not drop below the
    /// seats already booked or held.
    public var capacity: Int?
    public var basePrice: Decimal?
    public var waitlistMode: WaitlistMode?

    public init(name: String? = nil, venue: String? = nil, startsAt: Date? = nil, capacity: Int? = nil,
                basePrice: Decimal? = nil, waitlistMode: WaitlistMode? = nil) {
        self.name = name
        self.venue = venue
        self.startsAt = startsAt
        self.capacity = capacity
        self.basePrice = basePrice
        self.waitlistMode = waitlistMode
    }

    /// Checks the fields that are set.
    public func validate() throws(BookingError) {
        if let name { try EventRules.checkName(name, field: "name") }
        if let venue { try EventRules.checkName(venue, field: "venue") }
        if let capacity { try EventRules.checkCapacity(capacity) }
        if let basePrice { try EventRules.checkPrice(basePrice) }
    }
}

/// Field rules shared by creation and edits, matching the table's CHECKs so bad input gets a
/// message naming the field rather than a constraint name.
enum EventRules {
    static let maximumPrice = Decimal(string: "9999999999.99")!

    static func checkName(_ value: String, field: String) throws(BookingError) {
        if value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidInput(field: field, reason: "must not be empty")
        }
        if value.count > 500 { throw .invalidInput(field: field, reason: "must be at most 500 characters") }
    }

    static func checkCapacity(_ capacity: Int) throws(BookingError) {
        if capacity <= 0 { throw .invalidInput(field: "capacity", reason: "must be at least 1") }
        if capacity > Int(Int32.max) { throw .invalidInput(field: "capacity", reason: "must be at most \(Int32.max)") }
    }

    static func checkPrice(_ price: Decimal) throws(BookingError) {
        if price.isNaN || price < 0 { throw .invalidInput(field: "price", reason: "must not be negative") }
        if price > maximumPrice { throw .invalidInput(field: "price", reason: "must be at most \(maximumPrice)") }
        if Money.roundedToCents(price) != price {
            throw .invalidInput(field: "price", reason: "must have at most two decimal places")
        }
    }
}
