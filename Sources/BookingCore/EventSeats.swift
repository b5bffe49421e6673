import Foundation
import Logging
import PostgresNIO

/// The one place `events.available_seats` goes up or down (apart from an admin's capacity edit,
/// which moves it with `total_capacity` in ``EventStore/update(id:expectedVersion:changes:now:on:)``).
///
/// Seats are never read and then written. ``take(_:of:now:logger:on:)`` is one conditional
/// `UPDATE ... SET available_seats = available_seats - n WHERE available_seats >= n`: it takes
/// the seats or matches nothing. Concurrent takers of one event queue on its row lock and each
/// re-evaluates the condition against the committed count when its turn comes, so N concurrent
/// requests for the last seats confirm exactly as many as exist, with no retry loop. Returned
/// seats come back by increment, so an accounting error trips the table's CHECK instead of
/// silently resetting the count. Every change raises the event's version (the If-Match guard).
enum EventSeats {
    /// An event's seat figures right after a take.
    struct Taken {
        var capacity: Int
        var availableAfter: Int
        var basePrice: Decimal

        /// The seats taken before this take: what prices its seats.
        func soldBefore(taking count: Int) -> Int { capacity - availableAfter - count }
    }

    /// Takes `count` seats of an event that is on sale (active, not started by `now`) with one
    /// atomic conditional statement; `nil` when it is not on sale or has fewer seats free.
    static func take(_ count: Int, of eventID: UUID, now: Date, logger: Logger,
                     on connection: PostgresConnection) async throws -> Taken? {
        try await connection.firstRow("""
            UPDATE evently.events
            SET available_seats = available_seats - \(count), version = version + 1, updated_at = \(now)
            WHERE id = \(eventID) AND status = 'active' AND starts_at > \(now) AND available_seats >= \(count)
            RETURNING total_capacity, available_seats, base_price::text
            """, logger: logger) { row in
            let (capacity, available, basePrice) = try row.decode((Int, Int, String).self)
            return Taken(capacity: capacity, availableAfter: available, basePrice: try Decimal(numericText: basePrice))
        }
    }

    /// Gives `count` seats back to `eventID`.
    ///
    /// - Parameter raisingVersion: `false` when the caller has already raised the event's
    ///   version for this change (an event cancellation), so one change is one version step.
    static func giveBack(_ count: Int, to eventID: UUID, raisingVersion: Bool = true, now: Date, logger: Logger,
                         on connection: PostgresConnection) async throws {
        try await giveBack([eventID: count], raisingVersion: raisingVersion, now: now, logger: logger, on: connection)
    }

    /// Gives seats back to several events in one statement. Callers lock the events first, in
    /// id order, as every use case does.
    static func giveBack(_ seats: [UUID: Int], raisingVersion: Bool = true, now: Date, logger: Logger,
                         on connection: PostgresConnection) async throws {
        let returned = seats.filter { $0.value != 0 }.sorted { $0.key.uuidString < $1.key.uuidString }
        guard !returned.isEmpty else { return }
        let step = raisingVersion ? 1 : 0
        try await connection.query("""
            UPDATE evently.events AS e
            SET available_seats = e.available_seats + r.seats, version = e.version + \(step), updated_at = \(now)
            FROM unnest(\(returned.map(\.key))::uuid[], \(returned.map(\.value))::int[]) AS r(id, seats)
            WHERE e.id = r.id
            """, logger: logger)
    }
}
