import Foundation
import Logging
import PostgresNIO

/// One change a user's live stream shows: the row as it is now and the number its last change
/// took from `evently.live_change_seq` (migration b0005: set by triggers on every writer's
/// change, announced by NOTIFY `evently_live`).
public struct LiveChange: Sendable {
    public enum Row: Sendable {
        case notification(UserNotification)
        case booking(Booking)
        case waitlist(WaitlistEntry)
    }

    public var sequence: Int64
    public var userID: UUID
    public var row: Row
}

/// The reads behind live streams: a user's changes after a number (a reconnecting client's
/// gap), the rows that numbered changes name (what a NOTIFY announced), and the newest number.
///
/// A row keeps only the number of its latest change, so a gap is filled with each row's
/// current state once, not with every state it passed through.
public struct LiveChangeStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// The user's changes numbered after `sequence`, oldest first, at most `limit` (read
    /// `limit + 1` to learn whether more were missed than a stream replays).
    public func changes(userID: UUID, after sequence: Int64, limit: Int, on connection: PostgresConnection) async throws -> [LiveChange] {
        let limit = max(0, limit)
        let notifications = try await connection.rows("""
            SELECT \(unescaped: NotificationStore.columns()), live_seq FROM evently.notifications
            WHERE user_id = \(userID) AND live_seq > \(sequence) ORDER BY live_seq LIMIT \(limit)
            """, logger: logger, Self.notification)
        let bookings = try await connection.rows("""
            SELECT \(unescaped: BookingStore.columns()), live_seq FROM evently.bookings
            WHERE user_id = \(userID) AND live_seq > \(sequence) ORDER BY live_seq LIMIT \(limit)
            """, logger: logger, Self.booking)
        var query = PostgresQuery(unsafeSQL: """
            SELECT \(WaitlistStore.columns("w")), w.live_seq, \(WaitlistStore.positionExpression)
            FROM evently.waitlist AS w WHERE w.user_id = $1 AND w.live_seq > $2 ORDER BY w.live_seq LIMIT $3
            """)
        query.binds.append(userID)
        query.binds.append(sequence)
        query.binds.append(limit)
        let entries = try await connection.rows(query, logger: logger, Self.waitlist)
        return Array((notifications + bookings + entries).sorted { $0.sequence < $1.sequence }.prefix(limit))
    }

    /// The changes numbered `sequences` of the named users, oldest first. A row changed again
    /// since carries a newer number and is not returned: the newer NOTIFY brings it.
    public func changes(_ wanted: [(userID: UUID, sequence: Int64)], on connection: PostgresConnection) async throws -> [LiveChange] {
        guard !wanted.isEmpty else { return [] }
        let users = wanted.map(\.userID)
        let sequences = wanted.map(\.sequence)
        // (user_id, live_seq) pairs walk the *_live_idx indexes.
        let notifications = try await connection.rows("""
            SELECT \(unescaped: NotificationStore.columns()), live_seq FROM evently.notifications
            WHERE (user_id, live_seq) IN (SELECT * FROM unnest(\(users)::uuid[], \(sequences)::bigint[]))
            """, logger: logger, Self.notification)
        let bookings = try await connection.rows("""
            SELECT \(unescaped: BookingStore.columns()), live_seq FROM evently.bookings
            WHERE (user_id, live_seq) IN (SELECT * FROM unnest(\(users)::uuid[], \(sequences)::bigint[]))
            """, logger: logger, Self.booking)
        var query = PostgresQuery(unsafeSQL: """
            SELECT \(WaitlistStore.columns("w")), w.live_seq, \(WaitlistStore.positionExpression)
            FROM evently.waitlist AS w
            WHERE (w.user_id, w.live_seq) IN (SELECT * FROM unnest($1::uuid[], $2::bigint[]))
            """)
        query.binds.append(users)
        query.binds.append(sequences)
        let entries = try await connection.rows(query, logger: logger, Self.waitlist)
        return (notifications + bookings + entries).sorted { $0.sequence < $1.sequence }
    }

    /// The newest number handed out (0 before the first): a stream that starts from here and
    /// reconnects with it misses nothing committed after it started.
    public func currentSequence(on connection: PostgresConnection) async throws -> Int64 {
        try await connection.firstRow(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM evently.live_change_seq",
            logger: logger) { try $0.decode(Int64.self) } ?? 0
    }

    static func notification(_ row: PostgresRow) throws -> LiveChange {
        let notification = try NotificationStore.decode(row)
        return LiveChange(sequence: try lastCell(row, offset: 1), userID: notification.userID, row: .notification(notification))
    }

    static func booking(_ row: PostgresRow) throws -> LiveChange {
        let booking = try BookingStore.decode(row)
        return LiveChange(sequence: try lastCell(row, offset: 1), userID: booking.userID, row: .booking(booking))
    }

    /// Entry columns, then live_seq, then the position (``WaitlistStore/decodePositioned(_:)``
    /// reads the last cell).
    static func waitlist(_ row: PostgresRow) throws -> LiveChange {
        let entry = try WaitlistStore.decodePositioned(row)
        return LiveChange(sequence: try lastCell(row, offset: 2), userID: entry.userID, row: .waitlist(entry))
    }

    private static func lastCell(_ row: PostgresRow, offset: Int) throws -> Int64 {
        let cells = PostgresRandomAccessRow(row)
        return try cells[cells.count - offset].decode(Int64.self)
    }
}
