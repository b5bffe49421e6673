import Foundation

/// Confirmed bookings of one event.
public struct EventBookings: Sendable, Codable, Equatable {
    public var eventID: UUID
    public var name: String
    public var bookings: Int
    public var seats: Int
    public var revenue: Decimal

    public init(eventID: UUID, name: String, bookings: Int, seats: Int, revenue: Decimal) {
        self.eventID = eventID
        self.name = name
        self.bookings = bookings
        self.seats = seats
        self.revenue = revenue
    }
}
