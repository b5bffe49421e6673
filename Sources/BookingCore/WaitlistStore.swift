import Foundation
import Logging
import PostgresNIO

/// The statements on `evently.waitlist`: joining, positions, leaving, promotion, offers.
///
/// Every use case here that moves seats locks the event row first (the order bookings and
/// cancellations follow too), so promotions for one event run one at a time and never offer the
/// same seats twice, and no two use cases can deadlock on event and entry rows.
public struct WaitlistStore: Sendable {
    let logger: Logger
    /// How long a statement waits on a row lock before failing (`lock_timeout`).
    public var lockTimeout: Duration
    /// The most waiting entries one promotion considers.
    public var promotionScanLimit: Int

    public init(logger: Logger, lockTimeout: Duration = .seconds(2), promotionScanLimit: Int = 500) {
        self.logger = logger
        self.lockTimeout = lockTimeout
        self.promotionScanLimit = promotionScanLimit
    }

    static let columns = ColumnList("""
        id, user_id, event_id, quantity, priority_score, joined_at, status, channels::text AS channels, offer_expires_at, \
        offered_seats, offered_amount::text AS offered_amount, booking_id, expires_at, created_at, updated_at
        """)

    /// The 1-based place of waiting entry `w` in its line: the waiting entries ordered before it
    /// by (priority_score DESC, joined_at, id), plus one. Counted on read over `waitlist_line_idx`,
    /// so leaving or promoting never renumbers anything.
    static let positionExpression = """
        CASE WHEN w.status = 'waiting' THEN 1 + (
            SELECT count(*) FROM evently.waitlist AS o
            WHERE o.event_id = w.event_id AND o.status = 'waiting'
              AND (o.priority_score > w.priority_score
                   OR (o.priority_score = w.priority_score AND (o.joined_at, o.id) < (w.joined_at, w.id))))
        END
        """

    static func decode(_ row: PostgresRow) throws -> WaitlistEntry {
        let (id, userID, eventID, quantity, priority, joinedAt, status, channels, offerExpiresAt, offeredSeats,
             offeredAmount, bookingID, expiresAt, createdAt, updatedAt) =
            try row.decode((UUID, UUID, UUID, Int, Int, Date, String, String, Date?, Int?, String?, UUID?, Date?,
                            Date, Date).self)
        return WaitlistEntry(
            id: id, userID: userID, eventID: eventID, quantity: quantity, priorityScore: priority, joinedAt: joinedAt,
            status: try WaitlistStatus(stored: status), channels: try NotificationChannelList.decode(channels),
            offerExpiresAt: offerExpiresAt, offeredSeats: offeredSeats,
            offeredAmount: try offeredAmount.map { try Decimal(numericText: $0) }, bookingID: bookingID,
            expiresAt: expiresAt, createdAt: createdAt, updatedAt: updatedAt)
    }

    /// Decodes the entry columns followed by a position column.
    static func decodePositioned(_ row: PostgresRow) throws -> WaitlistEntry {
        var entry = try decode(row)
        let cells = PostgresRandomAccessRow(row)
        entry.position = try cells[cells.count - 1].decode(Int?.self)
        return entry
    }

    // MARK: Joining and reading the line

    /// Puts the user in line for `quantity` seats of a full event, to be reached on `channels`.
    /// Returns the entry with its position.
    ///
    /// "Full" means fewer than `quantity` seats are free: with enough free seats the user should
    /// book. A seat freed right after this check is offered to the line by the promotion its
    /// cancellation causes.
    ///
    /// - Throws: ``BookingError/eventNotFull(available:)``, ``BookingError/alreadyOnWaitlist``,
    ///   ``BookingError/eventNotFound``, ``BookingError/eventNotActive(_:)``,
    ///   ``BookingError/eventStarted``, ``BookingError/invalidQuantity(_:)``,
    ///   ``BookingError/invalidInput(field:reason:)`` (channels), ``BookingError/userNotFound``.
    public func join(userID: UUID, eventID: UUID, quantity: Int, channels: [NotificationChannel] = NotificationChannel.waitlistDefault,
                     priorityScore: Int = 0, expiresAt: Date? = nil, now: Date,
                     on connection: PostgresConnection) async throws -> WaitlistEntry {
        guard quantity > 0 else { throw BookingError.invalidQuantity("ask for at least 1 seat, not \(quantity)") }
        guard !channels.isEmpty else { throw BookingError.invalidInput(field: "channels", reason: "name at least one channel") }
        var unique: [NotificationChannel] = []
        for channel in channels where !unique.contains(channel) { unique.append(channel) }
        if let expiresAt, expiresAt <= now {
            throw BookingError.invalidInput(field: "expires_at", reason: "must be in the future")
        }

        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        // FOR SHARE: a concurrent event cancellation waits for this join to commit and then
        // closes the new entry too; bookings are not held up, since a full event's sold-out
        // UPDATEs match no row and take no lock.
        let event = try await connection.firstRow(
            "SELECT status, available_seats, total_capacity, starts_at FROM evently.events WHERE id = \(eventID) FOR SHARE",
            logger: logger
        ) { try $0.decode((String, Int, Int, Date).self) }
        guard let (statusText, available, capacity, startsAt) = event else { throw BookingError.eventNotFound }
        let status = try EventStatus(stored: statusText)
        guard status == .active else { throw BookingError.eventNotActive(status) }
        guard startsAt > now else { throw BookingError.eventStarted }
        guard quantity <= capacity else {
            throw BookingError.invalidQuantity("the event has \(capacity) seats in all; ask for at most that")
        }
        guard available < quantity else { throw BookingError.eventNotFull(available: available) }

        // The partial unique index allows one open entry per user and event; a second join
        // inserts nothing instead of failing the transaction.
        let inserted: UUID?
        do {
            inserted = try await connection.firstRow("""
                INSERT INTO evently.waitlist (user_id, event_id, quantity, priority_score, joined_at, channels,
                                              expires_at, created_at, updated_at)
                VALUES (\(userID), \(eventID), \(quantity), \(priorityScore), \(now), \(NotificationChannelList.encode(unique))::jsonb,
                        \(expiresAt), \(now), \(now))
                ON CONFLICT (user_id, event_id) WHERE status IN ('waiting', 'offered') DO NOTHING
                RETURNING id
                """, logger: logger) { try $0.decode(UUID.self) }
        } catch let error where ConstraintViolation.classify(error)?.state == ConstraintViolation.foreignKeyViolation {
            throw BookingError.userNotFound
        }
        guard let id = inserted else { throw BookingError.alreadyOnWaitlist }
        guard let entry = try await positioned(where: "w.id = \(id)", on: connection).first else {
            throw BookingError.notOnWaitlist
        }
        return entry
    }

    /// The user's open entry (waiting or offered) for the event, with its position.
    ///
    /// - Throws: ``BookingError/notOnWaitlist``.
    public func entry(userID: UUID, eventID: UUID, on connection: PostgresConnection) async throws -> WaitlistEntry {
        let entries = try await positioned(
            where: "w.user_id = \(userID) AND w.event_id = \(eventID) AND w.status IN ('waiting', 'offered')",
            on: connection)
        guard let entry = entries.first else { throw BookingError.notOnWaitlist }
        return entry
    }

    /// The open entries (waiting or offered) of `userIDs`, with their positions; only those for
    /// `eventID` when it is given.
    public func openEntries(userIDs: [UUID], eventID: UUID? = nil, on connection: PostgresConnection) async throws -> [WaitlistEntry] {
        guard !userIDs.isEmpty else { return [] }
        if let eventID {
            return try await positioned(
                where: "w.event_id = \(eventID) AND w.user_id = ANY(\(userIDs)) AND w.status IN ('waiting', 'offered')",
                on: connection)
        }
        return try await positioned(where: "w.user_id = ANY(\(userIDs)) AND w.status IN ('waiting', 'offered')", on: connection)
    }

    /// The waiting entries of an event in line order, each with its position.
    public func line(eventID: UUID, limit: Int = 100, on connection: PostgresConnection) async throws -> [WaitlistEntry] {
        try await connection.rows("""
            SELECT \(unescaped: Self.columns("w")),
                   row_number() OVER (ORDER BY w.priority_score DESC, w.joined_at, w.id)
            FROM evently.waitlist AS w
            WHERE w.event_id = \(eventID) AND w.status = 'waiting'
            ORDER BY w.priority_score DESC, w.joined_at, w.id
            LIMIT \(max(0, limit))
            """, logger: logger, Self.decodePositioned)
    }

    private func positioned(where condition: PostgresQuery, on connection: PostgresConnection) async throws -> [WaitlistEntry] {
        var query = PostgresQuery(unsafeSQL: """
            SELECT \(Self.columns("w")), \(Self.positionExpression)
            FROM evently.waitlist AS w WHERE
            """)
        query.sql += " " + condition.sql
        query.binds = condition.binds
        return try await connection.rows(query, logger: logger, Self.decodePositioned)
    }

    /// Takes the user out of the line. Leaving with an open offer gives its held seats back and
    /// yields `.promoteWaitlist` so the next in line gets them.
    ///
    /// - Throws: ``BookingError/notOnWaitlist``.
    public func leave(userID: UUID, eventID: UUID, now: Date,
                      on connection: PostgresConnection) async throws -> Outcome<WaitlistEntry> {
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        // Event row first; with it held, no promotion, lapse or acceptance can change the entry.
        let open = try await connection.firstRow("""
            SELECT w.id, w.status FROM evently.waitlist AS w
            JOIN evently.events AS e ON e.id = w.event_id
            WHERE w.user_id = \(userID) AND w.event_id = \(eventID) AND w.status IN ('waiting', 'offered')
            FOR NO KEY UPDATE OF e
            """, logger: logger) { try $0.decode((UUID, String).self) }
        guard let (entryID, previousText) = open else { throw BookingError.notOnWaitlist }
        let left = try await connection.firstRow("""
            UPDATE evently.waitlist SET status = 'left', updated_at = \(now)
            WHERE id = \(entryID) AND status IN ('waiting', 'offered')
            RETURNING \(unescaped: Self.columns())
            """, logger: logger, Self.decode)
        guard let entry = left else { throw BookingError.notOnWaitlist }
        guard try WaitlistStatus(stored: previousText) == .offered, let held = entry.offeredSeats else {
            return Outcome(entry)
        }
        try await EventSeats.giveBack(held, to: eventID, now: now, logger: logger, on: connection)
        return Outcome(entry, followUps: [.promoteWaitlist(eventID: eventID)])
    }

    // MARK: Promotion and offers

    /// Serves the line with the event's free seats: entries in order whose quantity fits (see
    /// ``WaitlistPromotion/pick(quantities:freeSeats:)``). In `offer` mode each gets its seats
    /// held at today's price until `now + offerWindow` (`.waitlistOffer`); in `autoBook` mode
    /// each is booked directly (`.waitlistBooked`). Returns the entries served, in line order.
    ///
    /// Nothing happens (and nothing is thrown) for an event that is not active, has started, or
    /// has no free seats.
    ///
    /// - Throws: ``BookingError/eventNotFound``.
    public func promote(eventID: UUID, now: Date, offerWindow: Duration, pricing: PricingPolicy,
                        on connection: PostgresConnection) async throws -> Outcome<[WaitlistEntry]> {
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        // The event row lock serialises promotions (and bookings) of this event, so the free
        // count read here stays true until commit: reading it is safe under this lock.
        let event = try await connection.firstRow("""
            SELECT status, available_seats, total_capacity, base_price::text, waitlist_mode, starts_at
            FROM evently.events WHERE id = \(eventID)
            FOR NO KEY UPDATE
            """, logger: logger) { try $0.decode((String, Int, Int, String, String, Date).self) }
        guard let (statusText, available, capacity, basePriceText, modeText, startsAt) = event else {
            throw BookingError.eventNotFound
        }
        guard try EventStatus(stored: statusText) == .active, startsAt > now, available > 0 else { return Outcome([]) }
        let mode = try WaitlistMode(stored: modeText)
        let basePrice = try Decimal(numericText: basePriceText)

        // FOR UPDATE (not SKIP LOCKED): an entry being expired or left right now is waited for
        // and then re-checked, rather than passed over for this round.
        let candidates = try await connection.rows("""
            SELECT id, quantity FROM evently.waitlist
            WHERE event_id = \(eventID) AND status = 'waiting' AND quantity <= \(available)
              AND (expires_at IS NULL OR expires_at > \(now))
            ORDER BY priority_score DESC, joined_at, id
            LIMIT \(promotionScanLimit)
            FOR UPDATE
            """, logger: logger) { try $0.decode((UUID, Int).self) }
        let picked = WaitlistPromotion.pick(quantities: candidates.map(\.1), freeSeats: available).map { candidates[$0] }
        guard !picked.isEmpty else { return Outcome([]) }

        // Prices in line order, each entry's seats after the ones before it.
        var taken = capacity - available
        var amounts: [String] = []
        for (_, quantity) in picked {
            amounts.append(pricing.total(quantity: quantity, soldBefore: taken, capacity: capacity, basePrice: basePrice).numericText)
            taken += quantity
        }
        let ids = picked.map(\.0)

        let served: [WaitlistEntry]
        switch mode {
        case .offer:
            let expires = now.addingTimeInterval(Double(offerWindow.components.seconds)
                                                 + Double(offerWindow.components.attoseconds) / 1e18)
            served = try await connection.rows("""
                WITH plan AS (
                    SELECT * FROM unnest(\(ids)::uuid[], \(amounts)::text[]) AS p(id, amount)
                )
                UPDATE evently.waitlist AS w
                SET status = 'offered', offered_seats = w.quantity, offered_amount = p.amount::numeric,
                    offer_expires_at = \(expires), updated_at = \(now)
                FROM plan AS p
                WHERE w.id = p.id AND w.status = 'waiting'
                RETURNING \(unescaped: Self.columns("w"))
                """, logger: logger, Self.decode)
        case .autoBook:
            let bookingIDs = picked.map { _ in UUID() }
            served = try await connection.rows("""
                WITH plan AS (
                    SELECT * FROM unnest(\(ids)::uuid[], \(bookingIDs)::uuid[], \(amounts)::text[]) AS p(id, booking_id, amount)
                ), booked AS (
                    UPDATE evently.waitlist AS w
                    SET status = 'booked', booking_id = p.booking_id, offered_seats = w.quantity,
                        offered_amount = p.amount::numeric, updated_at = \(now)
                    FROM plan AS p
                    WHERE w.id = p.id AND w.status = 'waiting'
                    RETURNING \(unescaped: Self.columns("w"))
                ), inserted AS (
                    INSERT INTO evently.bookings (id, user_id, event_id, quantity, total_amount, status, created_at, updated_at)
                    SELECT b.booking_id, b.user_id, b.event_id, b.quantity, b.offered_amount::numeric, 'confirmed', \(now), \(now)
                    FROM booked AS b
                )
                SELECT * FROM booked
                """, logger: logger, Self.decode)
        }
        // Exactly the seats of the entries served. The event row is still locked, so the count
        // read above holds and the take cannot fail; if it did, the transaction rolls back.
        let seats = served.reduce(0) { $0 + ($1.offeredSeats ?? $1.quantity) }
        if seats > 0, try await EventSeats.take(seats, of: eventID, now: now, logger: logger, on: connection) == nil {
            throw BookingError.soldOut(available: available)
        }
        let order = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let sorted = served.sorted { order[$0.id, default: 0] < order[$1.id, default: 0] }
        let followUps: [FollowUp] = sorted.map { entry in
            .notify(userID: entry.userID, template: mode == .offer ? .waitlistOffer : .waitlistBooked, eventID: eventID,
                    bookingID: entry.bookingID, waitlistEntryID: entry.id, channels: entry.channels)
        }
        return Outcome(sorted, followUps: followUps)
    }

    /// Books the seats an offer holds, at the offered price. The seats were taken out of the
    /// event when the offer was made, so the event's count does not change again.
    ///
    /// - Throws: ``BookingError/offerNotFound`` (no such entry for this user, or not offered),
    ///   ``BookingError/offerExpired`` (past its window, or already lapsed).
    public func acceptOffer(entryID: UUID, userID: UUID, now: Date,
                            on connection: PostgresConnection) async throws -> Outcome<Booking> {
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        // The event row lock orders this against an event cancellation: either the booking made
        // here is committed before the cancellation reads the bookings, or the entry is cancelled.
        let found = try await connection.firstRow("""
            SELECT w.status, w.offer_expires_at, w.event_id, w.channels::text FROM evently.waitlist AS w
            JOIN evently.events AS e ON e.id = w.event_id
            WHERE w.id = \(entryID) AND w.user_id = \(userID)
            FOR NO KEY UPDATE OF e
            """, logger: logger) { try $0.decode((String, Date?, UUID, String).self) }
        guard let (statusText, offerExpiresAt, eventID, channelsText) = found else { throw BookingError.offerNotFound }
        switch try WaitlistStatus(stored: statusText) {
        case .offered:
            if let offerExpiresAt, offerExpiresAt <= now { throw BookingError.offerExpired }
        case .lapsed:
            throw BookingError.offerExpired
        default:
            throw BookingError.offerNotFound
        }

        let bookingID = UUID()
        let booking = try await connection.firstRow("""
            WITH accepted AS (
                UPDATE evently.waitlist SET status = 'booked', booking_id = \(bookingID), updated_at = \(now)
                WHERE id = \(entryID) AND status = 'offered' AND offer_expires_at > \(now)
                RETURNING user_id, event_id, offered_seats, offered_amount
            ), inserted AS (
                INSERT INTO evently.bookings (id, user_id, event_id, quantity, total_amount, status, created_at, updated_at)
                SELECT \(bookingID), user_id, event_id, offered_seats, offered_amount, 'confirmed', \(now), \(now)
                FROM accepted
                RETURNING \(unescaped: BookingStore.columns())
            )
            SELECT * FROM inserted
            """, logger: logger, BookingStore.decode)
        guard let booking else { throw BookingError.offerNotFound }
        return Outcome(booking, followUps: [
            .notify(userID: userID, template: .bookingConfirmed, eventID: eventID, bookingID: booking.id,
                    waitlistEntryID: entryID, channels: try NotificationChannelList.decode(channelsText)),
        ])
    }

    /// Ends every offer whose window closed by `now`: the entries become `lapsed`, their held
    /// seats go back to their events. Yields `.offerLapsed` per entry and one
    /// `.promoteWaitlist` per event, so the seats pass to the next in line.
    public func lapseExpiredOffers(now: Date, on connection: PostgresConnection) async throws -> Outcome<[WaitlistEntry]> {
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        // Events first (in id order, so two sweeps cannot deadlock), then their entries.
        // Reads `waitlist_offer_expiry_idx`.
        let eventIDs = try await connection.rows("""
            SELECT id FROM evently.events
            WHERE id IN (SELECT event_id FROM evently.waitlist WHERE status = 'offered' AND offer_expires_at <= \(now))
            ORDER BY id
            FOR NO KEY UPDATE
            """, logger: logger) { try $0.decode(UUID.self) }
        guard !eventIDs.isEmpty else { return Outcome([]) }
        let lapsed = try await connection.rows("""
            WITH lapsed AS (
                UPDATE evently.waitlist AS w SET status = 'lapsed', updated_at = \(now)
                WHERE w.status = 'offered' AND w.offer_expires_at <= \(now) AND w.event_id = ANY(\(eventIDs)::uuid[])
                RETURNING \(unescaped: Self.columns("w"))
            )
            SELECT * FROM lapsed ORDER BY event_id, offer_expires_at, id
            """, logger: logger, Self.decode)
        let held = Dictionary(lapsed.map { ($0.eventID, $0.offeredSeats ?? 0) }, uniquingKeysWith: +)
        try await EventSeats.giveBack(held, now: now, logger: logger, on: connection)
        var followUps: [FollowUp] = lapsed.map {
            .notify(userID: $0.userID, template: .offerLapsed, eventID: $0.eventID, waitlistEntryID: $0.id,
                    channels: $0.channels)
        }
        var promoted = Set<UUID>()
        for entry in lapsed where promoted.insert(entry.eventID).inserted {
            followUps.append(.promoteWaitlist(eventID: entry.eventID))
        }
        return Outcome(lapsed, followUps: followUps)
    }

    /// Closes waiting entries whose own `expiresAt` passed by `now` (the cleanup). They held no
    /// seats, so nothing else changes. Reads `waitlist_entry_expiry_idx`.
    public func expireEntries(now: Date, on connection: PostgresConnection) async throws -> Outcome<[WaitlistEntry]> {
        let expired = try await connection.rows("""
            UPDATE evently.waitlist SET status = 'expired', updated_at = \(now)
            WHERE status = 'waiting' AND expires_at <= \(now)
            RETURNING \(unescaped: Self.columns())
            """, logger: logger, Self.decode)
        return Outcome(expired)
    }
}
