import Foundation

/// Bookings made on one UTC day.
public struct DailyBookings: Sendable, Codable, Equatable {
    /// `YYYY-MM-DD`, UTC.
    public var day: String
    /// Bookings created that day, whatever their status now.
    public var bookings: Int
    public var seats: Int
    /// Of those, how many are cancelled or refunded now.
    public var cancelled: Int
    /// What the ones still confirmed paid.
    public var revenue: Decimal

    public init(day: String, bookings: Int, seats: Int, cancelled: Int, revenue: Decimal) {
        self.day = day
        self.bookings = bookings
        self.seats = seats
        self.cancelled = cancelled
        self.revenue = revenue
    }
}
