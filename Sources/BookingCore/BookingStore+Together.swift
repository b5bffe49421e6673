import Foundation
import Logging
import PostgresNIO

extension BookingStore {
    /// Why a group could not be booked together; the caller books its requests one by one,
    /// each in its own transaction, which gives each one its exact answer.
    public struct GroupNeedsSingles: Error, Sendable {
        public var reason: String
    }

    /// Books `requests` for one event in the caller's transaction with one lock of the event row,
    /// one seat update, one insert: the answers are those of booking them one after another in
    /// this order (each its own booking or its own refusal), at a fraction of the round trips
    /// and with one commit for all.
    ///
    /// Requests are taken in order while they fit; one that does not fit is refused as sold out
    /// and a later, smaller one may still fit, as it would one by one. Prices follow from the
    /// seats sold before each request, as in ``book(userID:eventID:quantity:idempotencyKey:requestHash:now:pricing:on:)``.
    ///
    /// - Returns: one result per request, in order: the outcome (a replay for a key used before)
    ///   or the ``BookingError`` the single path would have thrown.
    /// - Throws: ``GroupNeedsSingles`` when one request would fail the whole statement (an
    ///   unknown user, a key written meanwhile by a writer outside the advisory lock), and
    ///   database errors. After any error the caller rolls the transaction back.
    public func bookTogether(_ requests: [BookingRequest], eventID: UUID, now: Date, pricing: PricingPolicy,
                             on connection: PostgresConnection) async throws -> [Result<BookingOutcome, BookingError>] {
        var results = [Result<BookingOutcome, BookingError>?](repeating: nil, count: requests.count)
        for (index, request) in requests.enumerated() {
            if request.quantity <= 0 {
                results[index] = .failure(.invalidQuantity("ask for at least 1 seat, not \(request.quantity)"))
            } else if request.quantity > Int(Int32.max) {
                results[index] = .failure(.invalidQuantity("\(request.quantity) seats is more than any event has"))
            } else if request.idempotencyKey?.isEmpty == true {
                results[index] = .failure(.invalidInput(field: "idempotency_key", reason: "must not be empty"))
            }
        }
        try await connection.setLocalLockTimeout(lockTimeout, logger: logger)
        try await answerReplays(requests, into: &results, on: connection)

        let waiting = requests.indices.filter { results[$0] == nil }
        guard !waiting.isEmpty else { return results.map { $0! } }
        guard let event = try await connection.firstRow("""
            SELECT status, starts_at, total_capacity, available_seats, base_price::text
            FROM evently.events WHERE id = \(eventID) FOR NO KEY UPDATE
            """, logger: logger, { row in try row.decode((String, Date, Int, Int, String).self) }) else {
            for index in waiting { results[index] = .failure(.eventNotFound) }
            return results.map { $0! }
        }
        let (status, startsAt, capacity, availableBefore, basePriceText) = event
        let eventStatus = try EventStatus(stored: status)
        let closed: BookingError? = eventStatus != .active ? .eventNotActive(eventStatus) : (startsAt <= now ? .eventStarted : nil)
        if let closed {
            for index in waiting { results[index] = .failure(closed) }
            return results.map { $0! }
        }
        let basePrice = try Decimal(numericText: basePriceText)

        // Seat by seat as the single path would take them, in arrival order.
        var available = availableBefore
        var accepted: [(index: Int, id: UUID, amount: Decimal)] = []
        for index in waiting {
            let quantity = requests[index].quantity
            guard quantity <= available else {
                results[index] = .failure(.soldOut(available: available))
                continue
            }
            let amount = pricing.total(quantity: quantity, soldBefore: capacity - available, capacity: capacity, basePrice: basePrice)
            guard amount <= EventRules.maximumAmount else {
                results[index] = .failure(.invalidQuantity(
                    "\(quantity) seats would cost more than \(EventRules.maximumAmount), the most one booking may"))
                continue
            }
            available -= quantity
            accepted.append((index, UUID(), amount))
        }
        guard !accepted.isEmpty else { return results.map { $0! } }

        try await connection.query("""
            UPDATE evently.events
            SET available_seats = available_seats - \(availableBefore - available), version = version + 1, updated_at = \(now)
            WHERE id = \(eventID)
            """, logger: logger)
        let inserted: [Booking]
        do {
            let rows = accepted.map { requests[$0.index] }
            inserted = try await connection.rows("""
                INSERT INTO evently.bookings (id, user_id, event_id, quantity, total_amount, status, idempotency_key,
                                              request_hash, created_at, updated_at)
                SELECT r.id, r.user_id, \(eventID), r.quantity, r.amount::numeric, 'confirmed',
                       CASE WHEN r.has_key THEN r.key END, CASE WHEN r.has_hash THEN r.hash END, \(now), \(now)
                FROM unnest(\(accepted.map { $0.id })::uuid[], \(rows.map(\.userID))::uuid[], \(rows.map(\.quantity))::int[],
                            \(accepted.map { $0.amount.numericText })::text[],
                            \(rows.map { $0.idempotencyKey != nil })::bool[], \(rows.map { $0.idempotencyKey ?? "" })::text[],
                            \(rows.map { $0.requestHash != nil })::bool[], \(rows.map { $0.requestHash ?? "" })::text[])
                     AS r(id, user_id, quantity, amount, has_key, key, has_hash, hash)
                ON CONFLICT ON CONSTRAINT bookings_idempotency_key DO NOTHING
                RETURNING \(unescaped: Self.columns())
                """, logger: logger, Self.decode)
        } catch let error where ConstraintViolation.classify(error)?.state == ConstraintViolation.foreignKeyViolation {
            throw GroupNeedsSingles(reason: "a user of the group does not exist")
        }
        guard inserted.count == accepted.count else {
            throw GroupNeedsSingles(reason: "an idempotency key of the group was used meanwhile")
        }
        let byID = Dictionary(uniqueKeysWithValues: inserted.map { ($0.id, $0) })
        for (index, id, _) in accepted {
            guard let booking = byID[id] else { throw GroupNeedsSingles(reason: "a booking of the group was not written") }
            results[index] = .success(BookingOutcome(booking: booking, isReplay: false, followUps: [
                .notify(userID: booking.userID, template: .bookingConfirmed, eventID: eventID, bookingID: booking.id),
            ]))
        }
        return results.map { $0! }
    }

    /// Takes the advisory lock of every key in the group (one statement) and answers the
    /// requests whose key was used before: a replay, a mismatch, or "in flight" when another
    /// transaction holds the key now or the key comes twice in the group.
    private func answerReplays(_ requests: [BookingRequest], into results: inout [Result<BookingOutcome, BookingError>?],
                               on connection: PostgresConnection) async throws {
        var seen = Set<String>()
        var keyed: [(index: Int, lockKey: String)] = []
        for (index, request) in requests.enumerated() where results[index] == nil {
            guard let key = request.idempotencyKey else { continue }
            let lockKey = request.userID.uuidString.lowercased() + "/" + key
            // A lock this session holds is granted again: the second of two equal keys must not
            // pass. (One by one it would be a replay of the first; the intake never sends both,
            // KeysInFlight keeps one user and key per process.)
            guard seen.insert(lockKey).inserted else {
                results[index] = .failure(.idempotencyKeyInFlight)
                continue
            }
            keyed.append((index, lockKey))
        }
        guard !keyed.isEmpty else { return }
        let locked = try await connection.rows("""
            SELECT pg_try_advisory_xact_lock(hashtextextended(k.key, 0))
            FROM unnest(\(keyed.map { $0.lockKey })::text[]) WITH ORDINALITY AS k(key, position)
            ORDER BY k.position
            """, logger: logger) { try $0.decode(Bool.self) }
        var lookedUp: [Int] = []
        for ((index, _), isLocked) in zip(keyed, locked) {
            if isLocked { lookedUp.append(index) } else { results[index] = .failure(.idempotencyKeyInFlight) }
        }
        guard !lookedUp.isEmpty else { return }
        // A new statement, so a new snapshot: it sees first attempts committed while we locked.
        let earlier = try await connection.rows("""
            SELECT \(unescaped: Self.columns("b")) FROM evently.bookings AS b
            JOIN unnest(\(lookedUp.map { requests[$0].userID })::uuid[], \(lookedUp.map { requests[$0].idempotencyKey! })::text[])
                 AS k(user_id, key) ON b.user_id = k.user_id AND b.idempotency_key = k.key
            """, logger: logger, Self.decode)
        let byKey = Dictionary(earlier.map { ("\($0.userID)/\($0.idempotencyKey ?? "")", $0) }, uniquingKeysWith: { first, _ in first })
        for index in lookedUp {
            let request = requests[index]
            guard let booking = byKey["\(request.userID)/\(request.idempotencyKey!)"] else { continue }
            results[index] = booking.requestHash == request.requestHash
                ? .success(BookingOutcome(booking: booking, isReplay: true, followUps: []))
                : .failure(.idempotencyMismatch)
        }
    }
}
