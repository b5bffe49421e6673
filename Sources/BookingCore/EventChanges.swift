import Foundation

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
