import Foundation

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
