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

/// How full one event is.
public struct EventUtilisation: Sendable, Codable, Equatable {
    public var eventID: UUID
    public var name: String
    public var startsAt: Date
    public var status: EventStatus
    public var capacity: Int
    /// Seats of confirmed bookings.
    public var bookedSeats: Int
    /// Seats held by open waitlist offers.
    public var heldSeats: Int
    public var availableSeats: Int
    /// `bookedSeats / capacity`.
    public var utilisation: Double

    public init(eventID: UUID, name: String, startsAt: Date, status: EventStatus, capacity: Int, bookedSeats: Int,
                heldSeats: Int, availableSeats: Int) {
        self.eventID = eventID
        self.name = name
        self.startsAt = startsAt
        self.status = status
        self.capacity = capacity
        self.bookedSeats = bookedSeats
        self.heldSeats = heldSeats
        self.availableSeats = availableSeats
        self.utilisation = capacity == 0 ? 0 : Double(bookedSeats) / Double(capacity)
    }
}

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

/// The open waitlist of one event.
public struct WaitlistLength: Sendable, Codable, Equatable {
    public var eventID: UUID
    public var name: String
    /// Entries waiting in line.
    public var waiting: Int
    /// Entries holding an open offer.
    public var offered: Int
    /// Seats the waiting entries ask for.
    public var seatsRequested: Int

    public init(eventID: UUID, name: String, waiting: Int, offered: Int, seatsRequested: Int) {
        self.eventID = eventID
        self.name = name
        self.waiting = waiting
        self.offered = offered
        self.seatsRequested = seatsRequested
    }
}
