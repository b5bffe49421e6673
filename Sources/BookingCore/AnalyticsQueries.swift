import Foundation
import Logging
import PostgresNIO

/// Read-only figures for the admin API and the scheduled reports. Each runs on any connection,
/// including one to a streaming replica.
public struct AnalyticsQueries: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Bookings created in `[from, to)`, per UTC day, every day of the range listed (zero when
    /// nothing was booked). Reads `bookings_created_idx`.
    public func bookingsPerDay(from: Date, to: Date, on connection: PostgresConnection) async throws -> [DailyBookings] {
        guard from < to else { return [] }
        // generate_series supplies the empty days; the aggregate runs once over the range.
        return try await connection.rows("""
            WITH days AS (
                SELECT d::date AS day
                FROM generate_series(date_trunc('day', \(from)::timestamptz AT TIME ZONE 'UTC'),
                                     date_trunc('day', (\(to)::timestamptz - interval '1 microsecond') AT TIME ZONE 'UTC'),
                                     interval '1 day') AS d
            ), totals AS (
                SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS bookings, sum(quantity) AS seats,
                       count(*) FILTER (WHERE status <> 'confirmed') AS cancelled,
                       sum(total_amount) FILTER (WHERE status = 'confirmed') AS revenue
                FROM evently.bookings
                WHERE created_at >= \(from) AND created_at < \(to)
                GROUP BY 1
            )
            SELECT to_char(days.day, 'YYYY-MM-DD'), coalesce(t.bookings, 0), coalesce(t.seats, 0), coalesce(t.cancelled, 0),
                   coalesce(t.revenue, 0)::text
            FROM days LEFT JOIN totals AS t USING (day)
            ORDER BY days.day
            """, logger: logger) { row in
            let (day, bookings, seats, cancelled, revenue) = try row.decode((String, Int, Int, Int, String).self)
            return DailyBookings(day: day, bookings: bookings, seats: seats, cancelled: cancelled,
                                 revenue: try Decimal(numericText: revenue))
        }
    }

    /// Of the bookings created in `[from, to)`, how many are now cancelled or refunded.
    public func cancellationRate(from: Date, to: Date, on connection: PostgresConnection) async throws -> CancellationRate {
        let counts = try await connection.firstRow("""
            SELECT count(*), count(*) FILTER (WHERE status <> 'confirmed')
            FROM evently.bookings WHERE created_at >= \(from) AND created_at < \(to)
            """, logger: logger) { try $0.decode((Int, Int).self) }
        let (bookings, cancelled) = counts ?? (0, 0)
        return CancellationRate(bookings: bookings, cancelled: cancelled)
    }

    /// Booked, held and free seats of each event (by default the active ones), by start time.
    public func capacityUtilisation(status: EventStatus? = .active, limit: Int? = nil, offset: Int = 0,
                                    on connection: PostgresConnection) async throws -> [EventUtilisation] {
        // Correlated sums per event use bookings_event_idx and the waitlist line index.
        try await connection.rows("""
            SELECT e.id, e.name, e.starts_at, e.status, e.total_capacity, e.available_seats,
                   coalesce((SELECT sum(b.quantity) FROM evently.bookings AS b
                             WHERE b.event_id = e.id AND b.status = 'confirmed'), 0),
                   coalesce((SELECT sum(w.offered_seats) FROM evently.waitlist AS w
                             WHERE w.event_id = e.id AND w.status = 'offered'), 0)
            FROM evently.events AS e
            WHERE \(status?.rawValue)::text IS NULL OR e.status = \(status?.rawValue)::text
            ORDER BY e.starts_at, e.id
            LIMIT \(limit.map { max(0, $0) }) OFFSET \(max(0, offset))
            """, logger: logger) { row in
            let (id, name, startsAt, status, capacity, available, booked, held) =
                try row.decode((UUID, String, Date, String, Int, Int, Int, Int).self)
            return EventUtilisation(eventID: id, name: name, startsAt: startsAt, status: try EventStatus(stored: status),
                                    capacity: capacity, bookedSeats: booked, heldSeats: held, availableSeats: available)
        }
    }

    /// The events with the most confirmed seats (optionally among bookings created in
    /// `[from, to)`), most first.
    public func mostBookedEvents(limit: Int = 10, offset: Int = 0, from: Date? = nil, to: Date? = nil,
                                 on connection: PostgresConnection) async throws -> [EventBookings] {
        try await connection.rows("""
            SELECT e.id, e.name, count(*), sum(b.quantity), sum(b.total_amount)::text
            FROM evently.bookings AS b JOIN evently.events AS e ON e.id = b.event_id
            WHERE b.status = 'confirmed'
              AND (\(from)::timestamptz IS NULL OR b.created_at >= \(from)::timestamptz)
              AND (\(to)::timestamptz IS NULL OR b.created_at < \(to)::timestamptz)
            GROUP BY e.id, e.name
            ORDER BY sum(b.quantity) DESC, count(*) DESC, e.id
            LIMIT \(max(0, limit)) OFFSET \(max(0, offset))
            """, logger: logger) { row in
            let (id, name, bookings, seats, revenue) = try row.decode((UUID, String, Int, Int, String).self)
            return EventBookings(eventID: id, name: name, bookings: bookings, seats: seats,
                                 revenue: try Decimal(numericText: revenue))
        }
    }

    /// Open waitlists, longest first.
    public func waitlistLengths(limit: Int? = nil, offset: Int = 0,
                                on connection: PostgresConnection) async throws -> [WaitlistLength] {
        try await connection.rows("""
            SELECT e.id, e.name,
                   count(*) FILTER (WHERE w.status = 'waiting'),
                   count(*) FILTER (WHERE w.status = 'offered'),
                   coalesce(sum(w.quantity) FILTER (WHERE w.status = 'waiting'), 0)
            FROM evently.waitlist AS w JOIN evently.events AS e ON e.id = w.event_id
            WHERE w.status IN ('waiting', 'offered')
            GROUP BY e.id, e.name
            ORDER BY 3 DESC, e.id
            LIMIT \(limit.map { max(0, $0) }) OFFSET \(max(0, offset))
            """, logger: logger) { row in
            let (id, name, waiting, offered, seats) = try row.decode((UUID, String, Int, Int, Int).self)
            return WaitlistLength(eventID: id, name: name, waiting: waiting, offered: offered, seatsRequested: seats)
        }
    }
}
