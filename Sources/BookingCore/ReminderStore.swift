import Foundation
import Logging
import PostgresNIO

/// Which bookings are due a reminder, recorded in `evently.booking_reminders` so that each
/// booking gets one reminder per offset however often and by however many daemons the scan runs.
public struct ReminderStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// A reminder claimed for sending.
    public struct DueReminder: Sendable, Equatable {
        public var bookingID: UUID
        public var userID: UUID
        public var eventID: UUID
        public var offsetSeconds: Int
    }

    /// Claims up to `limit` reminders that are due at `now` and records them, in the caller's
    /// transaction: the caller stores the notifications in the same one, so a claim and its
    /// messages commit together.
    ///
    /// Due means: the booking is confirmed, its event is active and starts within the offset,
    /// and the booking was made before the reminder's moment (`starts_at - offset`): a booking
    /// made two hours before the event gets its confirmation and the 1 h reminder, not a
    /// "24 hours to go" one. When several offsets of a booking are due at once (the daemons were
    /// down), only the smallest is sent; the others are recorded as superseded. A concurrent scan
    /// waits on the primary key and then skips the row.
    public func claimDue(offsets: [Int], now: Date, limit: Int = 500,
                         on connection: PostgresConnection) async throws -> [DueReminder] {
        guard !offsets.isEmpty else { return [] }
        return try await connection.rows("""
            WITH due AS (
                SELECT b.id AS booking_id, o.offset_seconds, e.starts_at
                FROM unnest(\(offsets)::integer[]) AS o (offset_seconds)
                JOIN evently.events AS e
                  ON e.status = 'active'
                 AND e.starts_at > \(now)
                 AND e.starts_at <= \(now)::timestamptz + make_interval(secs => o.offset_seconds)
                JOIN evently.bookings AS b
                  ON b.event_id = e.id AND b.status = 'confirmed'
                 AND b.created_at < e.starts_at - make_interval(secs => o.offset_seconds)
                WHERE NOT EXISTS (SELECT 1 FROM evently.booking_reminders AS r
                                  WHERE r.booking_id = b.id AND r.offset_seconds = o.offset_seconds)
            ), chosen AS (
                -- Whole bookings per batch, so all of a booking's due offsets are decided together.
                SELECT booking_id FROM due GROUP BY booking_id ORDER BY min(starts_at), booking_id LIMIT \(limit)
            ), claimed AS (
                INSERT INTO evently.booking_reminders (booking_id, offset_seconds, sent_at, superseded)
                SELECT d.booking_id, d.offset_seconds, \(now),
                       d.offset_seconds <> min(d.offset_seconds) OVER (PARTITION BY d.booking_id)
                FROM due AS d JOIN chosen USING (booking_id)
                -- One order for every scan, so two of them never lock a booking's rows crosswise.
                ORDER BY d.booking_id, d.offset_seconds
                ON CONFLICT (booking_id, offset_seconds) DO NOTHING
                RETURNING booking_id, offset_seconds, superseded
            )
            SELECT c.booking_id, b.user_id, b.event_id, c.offset_seconds
            FROM claimed AS c JOIN evently.bookings AS b ON b.id = c.booking_id
            WHERE NOT c.superseded
            ORDER BY c.booking_id
            """, logger: logger) { row in
            let (bookingID, userID, eventID, offset) = try row.decode((UUID, UUID, UUID, Int).self)
            return DueReminder(bookingID: bookingID, userID: userID, eventID: eventID, offsetSeconds: offset)
        }
    }
}
