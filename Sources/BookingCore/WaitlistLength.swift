import Foundation

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
