import Foundation
import Logging
import PostgresNIO

/// The statements on `evently.events`: creation, reads, versioned admin edits, cancellation.
/// Seat counts move through ``EventSeats``, apart from a capacity edit.
public struct EventStore: Sendable {
    let logger: Logger
    /// How long a statement waits on a row lock before failing (`lock_timeout`).
    public var lockTimeout: Duration

    public init(logger: Logger, lockTimeout: Duration = .seconds(2)) {
        self.logger = logger
        self.lockTimeout = lockTimeout
    }

    static let columns = ColumnList("""
        id, name, venue, starts_at, total_capacity, available_seats, base_price::text, waitlist_mode, status, version, \
        created_by, created_at, updated_at
        """)

    static func decode(_ row: PostgresRow) throws -> Event {
        let (id, name, venue, startsAt, capacity, available, price, mode, status, version, createdBy, createdAt, updatedAt) =
            try row.decode((UUID, String, String, Date, Int, Int, String, String, String, Int, UUID, Date, Date).self)
        return Event(id: id, name: name, venue: venue, startsAt: startsAt, totalCapacity: capacity,
                     availableSeats: available, basePrice: try Decimal(numericText: price),
                     waitlistMode: try WaitlistMode(stored: mode), status: try EventStatus(stored: status),
                     version: version, createdBy: createdBy, createdAt: createdAt, updatedAt: updatedAt)
    }

    /// Creates an active event with every seat available.
    ///
    /// - Throws: ``BookingError/invalidInput(field:reason:)`` for a bad field;
    ///   ``BookingError/adminRequired`` unless `adminID` is a stored admin.
    public func create(_ new: NewEvent, by adminID: UUID, now: Date, on connection: PostgresConnection) async throws -> Event {
        try new.validate()
        // INSERT ... SELECT from users makes the admin check and the insert one statement: no
        // row is inserted unless the creator is an admin at this moment.
        let event = try await connection.firstRow("""
            INSERT INTO evently.events (name, venue, starts_at, total_capacity, available_seats, base_price,
                                        waitlist_mode, created_by, created_at, updated_at)
            SELECT \(new.name), \(new.venue), \(new.startsAt), \(new.capacity), \(new.capacity),
                   \(new.basePrice.numericText)::numeric, \(new.waitlistMode.rawValue), u.id, \(now), \(now)
            FROM evently.users AS u WHERE u.id = \(adminID) AND u.role = 'admin'
            RETURNING \(unescaped: Self.columns())
            """, logger: logger, Self.decode)
        guard let event else { throw BookingError.adminRequired }
        return event
    }

    /// The event with `id`.
    ///
    /// - Throws: ``BookingError/eventNotFound``.
    public func get(id: UUID, on connection: PostgresConnection) async throws -> Event {
        let event = try await connection.firstRow(
            "SELECT \(unescaped: Self.columns()) FROM evently.events WHERE id = \(id)", logger: logger, Self.decode)
        guard let event else { throw BookingError.eventNotFound }
        return event
    }

    /// The events among `ids` that exist, in no particular order (one statement however many).
    public func get(ids: [UUID], on connection: PostgresConnection) async throws -> [Event] {
        guard !ids.isEmpty else { return [] }
        return try await connection.rows(
            "SELECT \(unescaped: Self.columns()) FROM evently.events WHERE id = ANY(\(ids))", logger: logger, Self.decode)
    }

    /// Events, active ones first, each group by start time; optionally only one status.
    /// Walks `events_listing_idx` in order.
    public func list(status: EventStatus? = nil, limit: Int = 100, offset: Int = 0,
                     on connection: PostgresConnection) async throws -> [Event] {
        try await connection.rows("""
            SELECT \(unescaped: Self.columns()) FROM evently.events
            WHERE \(status?.rawValue)::text IS NULL OR status = \(status?.rawValue)::text
            ORDER BY (status <> 'active'), starts_at, id
            LIMIT \(max(0, limit)) OFFSET \(max(0, offset))
            """, logger: logger, Self.decode)
    }

    /// Applies an admin edit if the event is still at `expectedVersion` (the If-Match guard;
    /// `nil`, from `If-Match: *`, takes any version), raising the version. A new capacity moves the available seats by the same amount.
    ///
    /// - Throws: ``BookingError/eventNotFound``, ``BookingError/versionConflict(current:)``,
    ///   ``BookingError/eventNotActive(_:)``, ``BookingError/capacityBelowSold(sold:)``,
    ///   ``BookingError/invalidInput(field:reason:)``.
    public func update(id: UUID, expectedVersion: Int?, changes: EventChanges, now: Date,
                       on connection: PostgresConnection) async throws -> Event {
        try changes.validate()
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        // Compare-and-set on version: a concurrent booking or edit bumps it, and this UPDATE then
        // matches no row. The capacity condition keeps the CHECK from failing the transaction,
        // so we can say why instead.
        let updated = try await connection.firstRow("""
            UPDATE evently.events
            SET name = coalesce(\(changes.name)::text, name),
                venue = coalesce(\(changes.venue)::text, venue),
                starts_at = coalesce(\(changes.startsAt)::timestamptz, starts_at),
                available_seats = available_seats + coalesce(\(changes.capacity)::int - total_capacity, 0),
                total_capacity = coalesce(\(changes.capacity)::int, total_capacity),
                base_price = coalesce(\(changes.basePrice?.numericText)::numeric, base_price),
                waitlist_mode = coalesce(\(changes.waitlistMode?.rawValue)::text, waitlist_mode),
                version = version + 1, updated_at = \(now)
            WHERE id = \(id) AND (\(expectedVersion)::bigint IS NULL OR version = \(expectedVersion)::bigint) AND status = 'active'
              AND available_seats + coalesce(\(changes.capacity)::int - total_capacity, 0) >= 0
            RETURNING \(unescaped: Self.columns())
            """, logger: logger, Self.decode)
        if let updated { return updated }
        let current = try await get(id: id, on: connection)
        if let expectedVersion, current.version != expectedVersion { throw BookingError.versionConflict(current: current.version) }
        if current.status != .active { throw BookingError.eventNotActive(current.status) }
        throw BookingError.capacityBelowSold(sold: current.takenSeats)
    }

    /// Marks active events that started at least `endedAfter` before `now` as `completed`
    /// (raising their version), at most `limit` per call, and returns their ids. A completed
    /// event takes no bookings, cancellations, waitlist entries or edits.
    public func completeEnded(now: Date, endedAfter: Duration, limit: Int = 1_000,
                              on connection: PostgresConnection) async throws -> [UUID] {
        let cutoff = now.addingTimeInterval(-Double(endedAfter.components.seconds))
        // SKIP LOCKED: an event a booking or an edit holds right now is taken on the next run.
        return try await connection.rows("""
            UPDATE evently.events SET status = 'completed', version = version + 1, updated_at = \(now)
            WHERE id IN (SELECT id FROM evently.events
                         WHERE status = 'active' AND starts_at <= \(cutoff)
                         ORDER BY starts_at LIMIT \(max(0, limit)) FOR UPDATE SKIP LOCKED)
            RETURNING id
            """, logger: logger) { try $0.decode(UUID.self) }
    }

    /// Cancels an active event with everything on it: every confirmed booking is cancelled,
    /// every open waitlist entry closed, and all seats (booked and held) returned. Yields one
    /// `.eventCancelled` notice per affected user: each booking holder (with the booking id when
    /// they hold exactly one booking) and each user who was only on the waitlist.
    ///
    /// The caller authorises (admins only). Lock order is event row first, as everywhere, so a
    /// booking racing with this either commits first (and is cancelled here) or sees the event
    /// cancelled.
    ///
    /// - Throws: ``BookingError/eventNotFound``, ``BookingError/eventNotActive(_:)``.
    public func cancel(id: UUID, now: Date, on connection: PostgresConnection) async throws -> Outcome<Event> {
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        let locked = try await connection.firstRow("""
            UPDATE evently.events SET status = 'cancelled', version = version + 1, updated_at = \(now)
            WHERE id = \(id) AND status = 'active'
            RETURNING id
            """, logger: logger) { try $0.decode(UUID.self) }
        if locked == nil {
            let current = try await get(id: id, on: connection)
            throw BookingError.eventNotActive(current.status)
        }
        let bookings = try await connection.rows("""
            UPDATE evently.bookings
            SET status = 'cancelled', cancelled_at = \(now), updated_at = \(now), version = version + 1
            WHERE event_id = \(id) AND status = 'confirmed'
            RETURNING id, user_id, quantity
            """, logger: logger) { try $0.decode((UUID, UUID, Int).self) }
        let entries = try await connection.rows("""
            UPDATE evently.waitlist AS w SET status = 'cancelled', updated_at = \(now)
            FROM (SELECT id, status AS previous FROM evently.waitlist
                  WHERE event_id = \(id) AND status IN ('waiting', 'offered') FOR UPDATE) AS open
            WHERE w.id = open.id
            RETURNING w.user_id, CASE WHEN open.previous = 'offered' THEN w.offered_seats ELSE 0 END, w.channels::text
            """, logger: logger) { try $0.decode((UUID, Int, String).self) }
        let returned = bookings.reduce(0) { $0 + $1.2 } + entries.reduce(0) { $0 + $1.1 }
        try await EventSeats.giveBack(returned, to: id, raisingVersion: false, now: now, logger: logger, on: connection)
        let event = try await get(id: id, on: connection)

        var followUps: [FollowUp] = []
        var notified = Set<UUID>()
        let bookingsByUser = Dictionary(grouping: bookings, by: \.1)
        for (bookingID, userID, _) in bookings where notified.insert(userID).inserted {
            let only = bookingsByUser[userID]?.count == 1 ? bookingID : nil
            followUps.append(.notify(userID: userID, template: .eventCancelled, eventID: id, bookingID: only))
        }
        for (userID, _, channels) in entries where notified.insert(userID).inserted {
            followUps.append(.notify(userID: userID, template: .eventCancelled, eventID: id,
                                     channels: try NotificationChannelList.decode(channels)))
        }
        return Outcome(event, followUps: followUps)
    }
}
