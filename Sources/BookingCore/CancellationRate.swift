import Foundation

/// How many bookings of a period were cancelled.
public struct CancellationRate: Sendable, Codable, Equatable {
    public var bookings: Int
    public var cancelled: Int
    /// `cancelled / bookings`, 0 without bookings.
    public var rate: Double

    public init(bookings: Int, cancelled: Int) {
        self.bookings = bookings
        self.cancelled = cancelled
        self.rate = bookings == 0 ? 0 : Double(cancelled) / Double(bookings)
    }
}
