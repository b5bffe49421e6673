import Foundation
import Logging
import PostgresNIO

/// The statements on `evently.bookings`: book, cancel, read. Seats are taken and returned
/// through ``EventSeats``, whose one conditional statement is what keeps bookings from overselling.
public struct BookingStore: Sendable {
    let logger: Logger
    /// How long a statement waits on a row lock before failing (`lock_timeout`).
    public var lockTimeout: Duration

    public init(logger: Logger, lockTimeout: Duration = .seconds(2)) {
        self.logger = logger
        self.lockTimeout = lockTimeout
    }

    static let columns = ColumnList("""
        id, user_id, event_id, quantity, total_amount::text, reference, status, idempotency_key, request_hash, version, \
        created_at, updated_at, cancelled_at
        """)

    static func decode(_ row: PostgresRow) throws -> Booking {
        let (id, userID, eventID, quantity, amount, reference, status, key, hash, version, createdAt, updatedAt, cancelledAt) =
            try row.decode((UUID, UUID, UUID, Int, String, String, String, String?, String?, Int, Date, Date, Date?).self)
        return Booking(id: id, userID: userID, eventID: eventID, quantity: quantity,
                       totalAmount: try Decimal(numericText: amount), reference: reference,
                       status: try BookingStatus(stored: status), idempotencyKey: key, requestHash: hash,
                       version: version, createdAt: createdAt, updatedAt: updatedAt, cancelledAt: cancelledAt)
    }

    /// Books `quantity` seats of `eventID` for `userID` at the dynamic price, inside the
    /// caller's transaction. Returns the confirmed booking and a `.bookingConfirmed` notice.
    ///
    /// With an `idempotencyKey` this user used before: the earlier booking comes back
    /// (`isReplay`, no follow-ups) when `requestHash` matches the first request's, and
    /// ``BookingError/idempotencyMismatch`` is thrown when it does not. While another
    /// transaction is booking with the same key, ``BookingError/idempotencyKeyInFlight`` is
    /// thrown at once rather than waiting for it.
    ///
    /// - Throws: ``BookingError/invalidQuantity(_:)``, ``BookingError/soldOut(available:)``,
    ///   ``BookingError/eventNotFound``, ``BookingError/eventNotActive(_:)``,
    ///   ``BookingError/eventStarted``, ``BookingError/userNotFound``, the idempotency errors
    ///   above, and database errors (a lock wait over ``lockTimeout`` among them). After any
    ///   error the caller rolls the transaction back.
    public func book(userID: UUID, eventID: UUID, quantity: Int, idempotencyKey: String? = nil,
                     requestHash: String? = nil, now: Date, pricing: PricingPolicy,
                     on connection: PostgresConnection) async throws -> BookingOutcome {
        guard quantity > 0 else { throw BookingError.invalidQuantity("ask for at least 1 seat, not \(quantity)") }
        guard quantity <= Int(Int32.max) else { throw BookingError.invalidQuantity("\(quantity) seats is more than any event has") }
        if let idempotencyKey, idempotencyKey.isEmpty {
            throw BookingError.invalidInput(field: "idempotency_key", reason: "must not be empty")
        }
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)

        if let idempotencyKey {
            if let earlier = try await claimIdempotencyKey(idempotencyKey, userID: userID, on: connection) {
                guard earlier.requestHash == requestHash else { throw BookingError.idempotencyMismatch }
                return BookingOutcome(booking: earlier, isReplay: true, followUps: [])
            }
        }

        // The count after this booking gives the seats taken before it, and so the price tier
        // of each seat, exactly.
        guard let taken = try await EventSeats.take(quantity, of: eventID, now: now, logger: logger, on: connection) else {
            throw try await reasonNotBookable(eventID: eventID, now: now, on: connection)
        }
        let amount = pricing.total(quantity: quantity, soldBefore: taken.soldBefore(taking: quantity),
                                   capacity: taken.capacity, basePrice: taken.basePrice)
        // total_amount is numeric(12,2); the caller's rollback returns the seats taken above.
        guard amount <= EventRules.maximumAmount else {
            throw BookingError.invalidQuantity("\(quantity) seats would cost more than \(EventRules.maximumAmount), the most one booking may")
        }

        // The reference comes from the column default (date + sequence). ON CONFLICT covers a
        // writer that bypassed the advisory lock with the same key: we answer "in flight" and the
        // caller's rollback returns the seats taken above.
        let inserted: Booking?
        do {
            inserted = try await connection.firstRow("""
                INSERT INTO evently.bookings (user_id, event_id, quantity, total_amount, status, idempotency_key,
                                              request_hash, created_at, updated_at)
                VALUES (\(userID), \(eventID), \(quantity), \(amount.numericText)::numeric, 'confirmed',
                        \(idempotencyKey), \(requestHash), \(now), \(now))
                ON CONFLICT ON CONSTRAINT bookings_idempotency_key DO NOTHING
                RETURNING \(unescaped: Self.columns())
                """, logger: logger, Self.decode)
        } catch let error where ConstraintViolation.classify(error)?.state == ConstraintViolation.foreignKeyViolation {
            throw BookingError.userNotFound
        }
        guard let booking = inserted else { throw BookingError.idempotencyKeyInFlight }
        return BookingOutcome(booking: booking, isReplay: false, followUps: [
            .notify(userID: userID, template: .bookingConfirmed, eventID: eventID, bookingID: booking.id),
        ])
    }

    /// Takes the transaction-scoped advisory lock of `(userID, key)` without waiting and returns
    /// the booking already made with this key, if any. Holding the lock until commit serialises
    /// requests with one key, so the look-up after it sees every committed first attempt.
    private func claimIdempotencyKey(_ key: String, userID: UUID, on connection: PostgresConnection) async throws -> Booking? {
        let lockKey = userID.uuidString.lowercased() + "/" + key
        let locked = try await connection.firstRow(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(\(lockKey), 0))", logger: logger
        ) { try $0.decode(Bool.self) } ?? false
        guard locked else { throw BookingError.idempotencyKeyInFlight }
        // A new statement, so a new snapshot: it sees a first attempt that committed while we
        // were acquiring the lock. Uses the bookings_idempotency_key index.
        return try await connection.firstRow("""
            SELECT \(unescaped: Self.columns()) FROM evently.bookings
            WHERE user_id = \(userID) AND idempotency_key = \(key)
            """, logger: logger, Self.decode)
    }

    /// Why the seat UPDATE matched no row. Read after the fact, so under concurrency the
    /// availability reported is the one seen now, which may differ from the one the UPDATE saw.
    private func reasonNotBookable(eventID: UUID, now: Date,
                                   on connection: PostgresConnection) async throws -> BookingError {
        let state = try await connection.firstRow(
            "SELECT status, available_seats, starts_at FROM evently.events WHERE id = \(eventID)", logger: logger
        ) { try $0.decode((String, Int, Date).self) }
        guard let (status, available, startsAt) = state else { return .eventNotFound }
        let eventStatus = try EventStatus(stored: status)
        if eventStatus != .active { return .eventNotActive(eventStatus) }
        if startsAt <= now { return .eventStarted }
        return .soldOut(available: available)
    }

    /// Cancels a confirmed booking on behalf of its owner or an admin and returns its seats with
    /// one atomic increment. Yields a `.bookingCancelled` notice and `.promoteWaitlist`.
    ///
    /// - Throws: ``BookingError/bookingNotFound`` (also for someone else's booking: its
    ///   existence is not revealed), ``BookingError/alreadyCancelled``,
    ///   ``BookingError/eventNotActive(_:)`` for a completed event,
    ///   ``BookingError/eventStartedCannotCancel`` once the event has started.
    public func cancel(bookingID: UUID, by actorID: UUID, now: Date,
                       on connection: PostgresConnection) async throws -> Outcome<Booking> {
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        // Lock the event row before the booking row, the order every use case follows, so this
        // cannot deadlock with an event cancellation. Whether the actor is an admin is read from
        // users, which mirrors the token's role.
        let found = try await connection.firstRow("""
            SELECT b.event_id, b.status, e.status, e.starts_at FROM evently.bookings AS b
            JOIN evently.events AS e ON e.id = b.event_id
            WHERE b.id = \(bookingID)
              AND (b.user_id = \(actorID)
                   OR EXISTS (SELECT 1 FROM evently.users AS u WHERE u.id = \(actorID) AND u.role = 'admin'))
            FOR NO KEY UPDATE OF e
            """, logger: logger) { try $0.decode((UUID, String, String, Date).self) }
        guard let (eventID, bookingStatus, eventStatusText, startsAt) = found else { throw BookingError.bookingNotFound }
        guard try BookingStatus(stored: bookingStatus) == .confirmed else { throw BookingError.alreadyCancelled }
        let eventStatus = try EventStatus(stored: eventStatusText)
        guard eventStatus == .active else { throw BookingError.eventNotActive(eventStatus) }
        // The seats of an event under way are no use to anyone: no refund, no waitlist promotion.
        guard startsAt > now else { throw BookingError.eventStartedCannotCancel }

        // Still guarded by status: the booking row is not locked by the SELECT above, but every
        // writer of a booking's status locks its event first, so nothing changes it in between.
        let cancelled = try await connection.firstRow("""
            UPDATE evently.bookings
            SET status = 'cancelled', cancelled_at = \(now), updated_at = \(now), version = version + 1
            WHERE id = \(bookingID) AND status = 'confirmed'
            RETURNING \(unescaped: Self.columns())
            """, logger: logger, Self.decode)
        guard let booking = cancelled else { throw BookingError.alreadyCancelled }

        try await EventSeats.giveBack(booking.quantity, to: eventID, now: now, logger: logger, on: connection)
        return Outcome(booking, followUps: [
            .notify(userID: booking.userID, template: .bookingCancelled, eventID: eventID, bookingID: booking.id),
            .promoteWaitlist(eventID: eventID),
        ])
    }

    /// The booking, if `actorID` owns it or is an admin.
    ///
    /// - Throws: ``BookingError/bookingNotFound``.
    public func get(id: UUID, for actorID: UUID, on connection: PostgresConnection) async throws -> Booking {
        let booking = try await connection.firstRow("""
            SELECT \(unescaped: Self.columns("b")) FROM evently.bookings AS b
            WHERE b.id = \(id)
              AND (b.user_id = \(actorID)
                   OR EXISTS (SELECT 1 FROM evently.users AS u WHERE u.id = \(actorID) AND u.role = 'admin'))
            """, logger: logger, Self.decode)
        guard let booking else { throw BookingError.bookingNotFound }
        return booking
    }

    /// A user's bookings, newest first, optionally only those created before `before` (for
    /// paging). Reads `bookings_user_idx`.
    public func list(userID: UUID, limit: Int = 50, offset: Int = 0, before: Date? = nil,
                     on connection: PostgresConnection) async throws -> [Booking] {
        try await connection.rows("""
            SELECT \(unescaped: Self.columns()) FROM evently.bookings
            WHERE user_id = \(userID) AND (\(before)::timestamptz IS NULL OR created_at < \(before)::timestamptz)
            ORDER BY created_at DESC, id
            LIMIT \(max(0, limit)) OFFSET \(max(0, offset))
            """, logger: logger, Self.decode)
    }
}
