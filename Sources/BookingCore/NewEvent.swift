import Foundation

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
