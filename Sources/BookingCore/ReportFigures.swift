import Foundation

/// The figures of one event, or their totals, for a report's period `[start, end)`.
public struct ReportFigures: Sendable, Equatable, Codable {
    /// Bookings made in the period, whatever their status now.
    public var bookings: Int
    /// Seats of those bookings.
    public var seats: Int
    /// What the bookings made in the period paid, counting those still confirmed when the
    /// report was built.
    public var revenue: Decimal
    /// Bookings cancelled (or refunded) in the period, whenever they were made.
    public var cancellations: Int
    /// Seats of those cancellations.
    public var cancelledSeats: Int
    /// Seats of bookings confirmed at the end of the period (made before it ended and not
    /// cancelled by then).
    public var confirmedSeats: Int
    /// The events' total capacity when the report was built.
    public var capacity: Int
    /// `confirmedSeats / capacity`, rounded to four places (0 without capacity).
    public var utilisation: Decimal
    /// Waitlist entries waiting when the report was built.
    public var waitlist: Int

    public init(bookings: Int, seats: Int, revenue: Decimal, cancellations: Int, cancelledSeats: Int,
                confirmedSeats: Int, capacity: Int, utilisation: Decimal, waitlist: Int) {
        self.bookings = bookings
        self.seats = seats
        self.revenue = revenue
        self.cancellations = cancellations
        self.cancelledSeats = cancelledSeats
        self.confirmedSeats = confirmedSeats
        self.capacity = capacity
        self.utilisation = utilisation
        self.waitlist = waitlist
    }
}
