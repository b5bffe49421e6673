import Foundation
import Logging
import PostgresNIO
import Queue

/// The statements on `evently.notifications`: creating rows (once per dedupe key), the
/// delivery state machine the senders drive, and the user's own inbox.
public struct NotificationStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    static let columns = ColumnList("""
        id, user_id, type, template, content::text, channels::text, status, event_id, booking_id, provider_message_id, \
        last_error, dedupe_key, created_at, sent_at, delivered_at, failed_at, read_at, skipped_at
        """)

    static func decode(_ row: PostgresRow) throws -> UserNotification {
        let (id, userID, type, template, content, channels, status, eventID, bookingID, providerID, lastError, dedupeKey,
             createdAt, sentAt, deliveredAt, failedAt, readAt, skippedAt) =
            try row.decode((UUID, UUID, String, String, String, String, String, UUID?, UUID?, String?, String?, String?,
                            Date, Date?, Date?, Date?, Date?, Date?).self)
        return UserNotification(
            id: id, userID: userID, type: try NotificationChannel(stored: type), template: template,
            content: Self.decodeContent(content), channels: try NotificationChannelList.decode(channels),
            status: try NotificationStatus(stored: status), eventID: eventID, bookingID: bookingID,
            providerMessageID: providerID, lastError: lastError, dedupeKey: dedupeKey, createdAt: createdAt,
            sentAt: sentAt, deliveredAt: deliveredAt, failedAt: failedAt, readAt: readAt, skippedAt: skippedAt)
    }

    /// Content is a JSON object of strings as we write it; values another writer stored as
    /// numbers or objects are shown as their JSON text rather than failing the read.
    static func decodeContent(_ json: String) -> [String: String] {
        let data = Data(json.utf8)
        if let strings = try? JSONDecoder().decode([String: String].self, from: data) { return strings }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return [:] }
        return object.mapValues { value in
            if let string = value as? String { return string }
            let encoded = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
            return encoded.map { String(decoding: $0, as: UTF8.self) } ?? "\(value)"
        }
    }

    static func encodeContent(_ content: [String: String]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(content), as: UTF8.self)
    }

    /// Stores a queued notification for `userID` on channel `type`. With a `dedupeKey` that is
    /// already stored, nothing is inserted and the stored row comes back with `created: false`:
    /// a job that re-runs after a crash finds its row (and its status) instead of making another.
    ///
    /// - Throws: ``BookingError/userNotFound``.
    public func create(userID: UUID, type: NotificationChannel, template: String, content: [String: String],
                       channels: [NotificationChannel],
                       eventID: UUID? = nil, bookingID: UUID? = nil, dedupeKey: String? = nil, now: Date,
                       on connection: PostgresConnection) async throws -> (notification: UserNotification, created: Bool) {
        guard !template.isEmpty else { throw BookingError.invalidInput(field: "template", reason: "must not be empty") }
        let contentJSON = try Self.encodeContent(content)
        let inserted: UserNotification?
        do {
            inserted = try await connection.firstRow("""
                INSERT INTO evently.notifications (user_id, type, template, content, channels, event_id, booking_id,
                                                   dedupe_key, created_at)
                VALUES (\(userID), \(type.rawValue), \(template), \(contentJSON)::jsonb,
                        \(NotificationChannelList.encode(channels))::jsonb, \(eventID), \(bookingID), \(dedupeKey), \(now))
                ON CONFLICT (dedupe_key) DO NOTHING
                RETURNING \(unescaped: Self.columns())
                """, logger: logger, Self.decode)
        } catch let error where ConstraintViolation.classify(error)?.state == ConstraintViolation.foreignKeyViolation {
            throw BookingError.userNotFound
        }
        if let inserted { return (inserted, true) }
        // A conflict means the key is taken by a committed row (an uncommitted one made us wait
        // for its outcome), which this new statement's snapshot sees.
        let existing = try await connection.firstRow(
            "SELECT \(unescaped: Self.columns()) FROM evently.notifications WHERE dedupe_key = \(dedupeKey)",
            logger: logger, Self.decode)
        guard let existing else { throw BookingError.notificationNotFound }
        return (existing, false)
    }

    /// Renders `notice` with its template from the facts in the database and stores it for
    /// delivery on `type`, as ``create(userID:type:template:content:channels:eventID:bookingID:dedupeKey:now:on:)``.
    /// The content holds `subject`, `body` and the facts.
    ///
    /// - Throws: ``BookingError/eventNotFound``, ``BookingError/userNotFound``.
    public func create(from notice: Notice, type: NotificationChannel, dedupeKey: String? = nil, now: Date,
                       on connection: PostgresConnection) async throws -> (notification: UserNotification, created: Bool) {
        let content = try await content(for: notice, on: connection)
        return try await create(userID: notice.userID, type: type, template: notice.template.rawValue, content: content,
                                channels: notice.channels ?? [type], eventID: notice.eventID,
                                bookingID: notice.bookingID, dedupeKey: dedupeKey, now: now, on: connection)
    }

    /// A notice's stored content: its facts, and its text for every channel rendered from them
    /// (see ``RenderedMessage``).
    ///
    /// - Throws: ``BookingError/eventNotFound``.
    public func content(for notice: Notice, on connection: PostgresConnection) async throws -> [String: String] {
        let facts = try await facts(for: notice, on: connection)
        return facts.fields.merging(NotificationRenderer.render(notice.template, facts).content) { _, text in text }
    }

    /// What a notice's message is rendered from: the event, and the booking and waitlist entry
    /// it names, if any. A booking or entry that belongs to another user (a notice forged by
    /// whoever can enqueue jobs) is left out, so one user's message never shows another's.
    ///
    /// - Throws: ``BookingError/eventNotFound``.
    public func facts(for notice: Notice, on connection: PostgresConnection) async throws -> NotificationFacts {
        let facts = try await connection.firstRow("""
            SELECT e.name, e.venue, e.starts_at, b.reference, b.quantity, b.total_amount::text,
                   w.offer_expires_at, w.offered_seats, w.offered_amount::text
            FROM evently.events AS e
            LEFT JOIN evently.bookings AS b
                   ON b.id = \(notice.bookingID)::uuid AND b.user_id = \(notice.userID) AND b.event_id = e.id
            LEFT JOIN evently.waitlist AS w
                   ON w.id = \(notice.waitlistEntryID)::uuid AND w.user_id = \(notice.userID) AND w.event_id = e.id
            WHERE e.id = \(notice.eventID)
            """, logger: logger) { row in
            let (name, venue, startsAt, reference, quantity, amount, offerExpiresAt, offeredSeats, offeredAmount) =
                try row.decode((String, String, Date, String?, Int?, String?, Date?, Int?, String?).self)
            return NotificationFacts(
                eventName: name, venue: venue, startsAt: startsAt, bookingReference: reference, quantity: quantity,
                totalAmount: try amount.map { try Decimal(numericText: $0) }, offerExpiresAt: offerExpiresAt,
                offeredSeats: offeredSeats, offeredAmount: try offeredAmount.map { try Decimal(numericText: $0) })
        }
        guard let facts else { throw BookingError.eventNotFound }
        return facts
    }

    /// A user's notifications, newest first, optionally only those created before `before`.
    /// Reads `notifications_user_idx`.
    public func list(userID: UUID, limit: Int = 50, offset: Int = 0, before: Date? = nil,
                     on connection: PostgresConnection) async throws -> [UserNotification] {
        try await connection.rows("""
            SELECT \(unescaped: Self.columns()) FROM evently.notifications
            WHERE user_id = \(userID) AND (\(before)::timestamptz IS NULL OR created_at < \(before)::timestamptz)
            ORDER BY created_at DESC, id
            LIMIT \(max(0, limit)) OFFSET \(max(0, offset))
            """, logger: logger, Self.decode)
    }

    /// Marks the user's own notification read (again: the first read time is kept). Only an
    /// in-app row changes status; an email or SMS row keeps its delivery state (a read mark must
    /// never stop or undo a delivery) and just records `read_at`.
    ///
    /// - Throws: ``BookingError/notificationNotFound`` also for another user's notification.
    public func markRead(id: UUID, userID: UUID, now: Date, on connection: PostgresConnection) async throws -> UserNotification {
        let read = try await connection.firstRow("""
            UPDATE evently.notifications
            SET status = CASE WHEN type = 'in_app' THEN 'read' ELSE status END, read_at = coalesce(read_at, \(now))
            WHERE id = \(id) AND user_id = \(userID)
            RETURNING \(unescaped: Self.columns())
            """, logger: logger, Self.decode)
        guard let read else { throw BookingError.notificationNotFound }
        return read
    }

    /// Records a hand-off to the provider. Only a queued or failed row moves; returns whether it did.
    @discardableResult
    public func markSent(id: UUID, providerMessageID: String?, now: Date, on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications
            SET status = 'sent', sent_at = \(now), provider_message_id = coalesce(\(providerMessageID)::text, provider_message_id)
            WHERE id = \(id) AND status IN ('queued', 'failed')
            RETURNING id
            """, on: connection)
    }

    /// Records the provider's delivery callback for its message id; returns whether a sent row moved.
    @discardableResult
    public func markDelivered(providerMessageID: String, now: Date, on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications SET status = 'delivered', delivered_at = \(now)
            WHERE provider_message_id = \(providerMessageID) AND status = 'sent'
            RETURNING id
            """, on: connection)
    }

    /// Whether a notification carries this provider message id.
    public func knowsProviderMessage(_ providerMessageID: String, on connection: PostgresConnection) async throws -> Bool {
        try await connection.firstRow(
            "SELECT 1 FROM evently.notifications WHERE provider_message_id = \(providerMessageID) LIMIT 1",
            logger: logger) { _ in true } ?? false
    }

    /// Records the provider's report that a sent message never arrived. Only a sent row moves:
    /// a late "failed" after "delivered" is ignored.
    @discardableResult
    public func markUndelivered(providerMessageID: String, error: String, now: Date,
                                on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications SET status = 'failed', failed_at = \(now), last_error = \(error)
            WHERE provider_message_id = \(providerMessageID) AND status = 'sent'
            RETURNING id
            """, on: connection)
    }

    /// Records a failed delivery attempt with its error; returns whether the row moved.
    @discardableResult
    public func markFailed(id: UUID, error: String, now: Date, on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications SET status = 'failed', failed_at = \(now), last_error = \(error)
            WHERE id = \(id) AND status IN ('queued', 'failed', 'sent')
            RETURNING id
            """, on: connection)
    }

    /// Records that the row was deliberately not sent (e.g. SMS without a phone number).
    @discardableResult
    public func markSkipped(id: UUID, reason: String, now: Date, on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications SET status = 'skipped', skipped_at = \(now), last_error = \(reason)
            WHERE id = \(id) AND status = 'queued'
            RETURNING id
            """, on: connection)
    }

    /// An in-app notification is delivered the moment it is stored in the user's inbox.
    @discardableResult
    public func markDelivered(id: UUID, now: Date, on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications SET status = 'delivered', delivered_at = \(now)
            WHERE id = \(id) AND status = 'queued'
            RETURNING id
            """, on: connection)
    }

    /// Keeps the error of an attempt that will be retried; the row stays queued.
    @discardableResult
    public func recordAttemptError(id: UUID, error: String, on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications SET last_error = \(error)
            WHERE id = \(id) AND status = 'queued'
            RETURNING id
            """, on: connection)
    }

    // MARK: Sending marks
    //
    // A sender marks the row with its attempt (`sending_by`) before it contacts the provider and
    // writes every outcome only while the mark is its own. Another attempt may take the mark only
    // once it is older than `window`: the longest the marking attempt's session could still be
    // going on. Both sides measure the window from `now()` at the mark, the database's clock.

    /// What a sender found when it asked for a row's sending mark.
    public enum SendingMark: Sendable, Equatable {
        /// The mark is the caller's: it may send.
        case taken
        /// Another attempt marked the row and its window has `remaining` to run: its session
        /// may still be going on, so the caller must not send yet.
        case heldElsewhere(by: String, remaining: Duration)
        /// The row is past sending (sent, delivered, read or skipped).
        case settled(NotificationStatus)
        /// There is no such row.
        case missing
    }

    /// Marks a queued or failed row as being sent by `token` unless another attempt's mark is
    /// younger than `window`. Call it in the transaction that confirms the caller still owns its
    /// job, so that a stale attempt cannot take the mark.
    public func markSending(id: UUID, by token: String, window: Duration,
                            on connection: PostgresConnection) async throws -> SendingMark {
        let windowMilliseconds = Int(window / .milliseconds(1))
        guard !connection.isClosed else { throw DatabaseConnectionLost() }
        let taken = try await connection.run(TakeSendingMark(id: id, token: token, windowMilliseconds: windowMilliseconds),
                                             logger: logger)
        if !taken.isEmpty { return .taken }
        let found = try await connection.firstRow("""
            SELECT status, sending_by,
                   (extract(epoch FROM sending_since - now()) * 1000)::float8 + \(windowMilliseconds)
            FROM evently.notifications WHERE id = \(id)
            """, logger: logger) { try $0.decode((String, String?, Double?).self) }
        guard let (stored, holder, remaining) = found else { return .missing }
        let status = try NotificationStatus(stored: stored)
        guard status == .queued || status == .failed, let holder else { return .settled(status) }
        return .heldElsewhere(by: holder, remaining: .milliseconds(max(0, Int((remaining ?? 0).rounded(.up)))))
    }

    /// ``markSending(id:by:window:on:)`` and ``deliveryTarget(id:on:)`` in one statement, which
    /// also confirms that attempt `attempt` of job `jobID` owns its job (``JobContext/ownershipLockSQL(jobID:attempt:)``)
    /// and holds that job's row until the statement commits: the round trips of one message's
    /// mark go from five (BEGIN, ownership, mark, read, COMMIT) to one. Returns the target when
    /// the mark was taken; `nil` when anything else is the case (the attempt lost its job, another
    /// mark is inside its window, the row is settled, gone or has no user, another transaction
    /// holds the job's row just then), having written
    /// nothing: the caller then learns which by the transaction of the three separate steps.
    /// (The statement commits before its row is decoded: a row that fails to decode leaves the
    /// mark taken, and other attempts wait out its window, as after a crash.)
    public func markSendingIfOwned(id: UUID, by token: String, window: Duration, jobID: Int64, attempt: Int,
                                   on connection: PostgresConnection) async throws -> DeliveryTarget? {
        try await markSendingIfOwned([SendingMarkRequest(id: id, token: token, jobID: jobID, attempt: attempt)],
                                     window: window, on: connection)[token]
    }

    /// ``markSendingIfOwned(id:by:window:jobID:attempt:on:)`` for many messages in one statement
    /// and one commit (those whose attempts start together): the targets of the marks taken, by
    /// the token of the request that took each. A request missing from the answer wrote nothing.
    /// A job row another transaction holds is skipped (``JobContext/ownershipLockSQL(jobIDs:attempts:)``):
    /// its request is not answered, and its caller learns how things stand by the separate
    /// steps, which wait for the row.
    public func markSendingIfOwned(_ requests: [SendingMarkRequest], window: Duration,
                                   on connection: PostgresConnection) async throws -> [String: DeliveryTarget] {
        guard !requests.isEmpty else { return [:] }
        guard !connection.isClosed else { throw DatabaseConnectionLost() }
        do {
            let taken = try await connection.run(TakeSendingMarksIfOwned(requests: requests,
                                                                         windowMilliseconds: Int(window / .milliseconds(1))),
                                                 logger: logger)
            return Dictionary(taken, uniquingKeysWith: { first, _ in first })
        } catch let error as PSQLError where error.isRowMovedByConcurrentUpdate {
            // A job's row moved to another partition (cancelled, discarded) after the statement
            // began: nothing written.
            return [:]
        }
    }

    /// Records a hand-off to the provider by the attempt whose mark the row carries, and clears
    /// the mark. Returns false when the row is not queued or failed, or the mark is not `token`'s.
    @discardableResult
    public func markSent(id: UUID, providerMessageID: String?, sendingBy token: String, now: Date,
                         on connection: PostgresConnection) async throws -> Bool {
        try await markSent([SentMark(id: id, providerMessageID: providerMessageID, sendingBy: token, at: now)], on: connection)
            .contains(id)
    }

    /// ``markSent(id:providerMessageID:sendingBy:now:on:)`` for many rows in one statement (the
    /// messages of one SMTP session end together); returns the ids that were recorded.
    public func markSent(_ marks: [SentMark], on connection: PostgresConnection) async throws -> Set<UUID> {
        guard !marks.isEmpty else { return [] }
        guard !connection.isClosed else { throw DatabaseConnectionLost() }
        return Set(try await connection.run(MarkSentByMarks(marks: marks), logger: logger))
    }

    /// Fails the row for good on behalf of the attempt whose mark it carries, and clears the
    /// mark: that attempt's session is over and sent nothing.
    @discardableResult
    public func markFailed(id: UUID, error: String, sendingBy token: String, now: Date,
                           on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications
            SET status = 'failed', failed_at = \(now), last_error = \(error), sending_by = NULL, sending_since = NULL
            WHERE id = \(id) AND status IN ('queued', 'failed') AND sending_by = \(token)
            RETURNING id
            """, on: connection)
    }

    /// Marks the row skipped (deliberately not sent) on behalf of the attempt whose mark it carries.
    @discardableResult
    public func markSkipped(id: UUID, reason: String, sendingBy token: String, now: Date,
                            on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications
            SET status = 'skipped', skipped_at = \(now), last_error = \(reason), sending_by = NULL, sending_since = NULL
            WHERE id = \(id) AND status = 'queued' AND sending_by = \(token)
            RETURNING id
            """, on: connection)
    }

    /// Clears `token`'s mark once its session is over without a hand-off, keeping `error` on a
    /// queued row for the retry to come (a failed row, retried by an operator, keeps its own).
    @discardableResult
    public func releaseSending(id: UUID, sendingBy token: String, error: String,
                               on connection: PostgresConnection) async throws -> Bool {
        try await transition("""
            UPDATE evently.notifications
            SET last_error = CASE WHEN status = 'queued' THEN \(error) ELSE last_error END,
                sending_by = NULL, sending_since = NULL
            WHERE id = \(id) AND sending_by = \(token)
            RETURNING id
            """, on: connection)
    }

    /// A notification with the addresses its recipient has now, for a sender.
    public func deliveryTarget(id: UUID, on connection: PostgresConnection) async throws -> DeliveryTarget? {
        guard !connection.isClosed else { throw DatabaseConnectionLost() }
        return try await connection.run(ReadDeliveryTarget(id: id), logger: logger).first
    }

    /// The phone numbers of `userIDs` that have one (for choosing channels).
    public func phones(of userIDs: [UUID], on connection: PostgresConnection) async throws -> [UUID: String] {
        guard !userIDs.isEmpty else { return [:] }
        let rows = try await connection.rows(
            "SELECT id, phone FROM evently.users WHERE id = ANY(\(userIDs)) AND phone IS NOT NULL",
            logger: logger) { try $0.decode((UUID, String).self) }
        return Dictionary(rows, uniquingKeysWith: { first, _ in first })
    }

    /// Deletes notifications created before `cutoff`, at most `limit` per call (oldest first);
    /// returns how many went.
    public func deleteCreated(before cutoff: Date, limit: Int = 5_000, on connection: PostgresConnection) async throws -> Int {
        try await connection.rows("""
            DELETE FROM evently.notifications WHERE id IN (
                SELECT id FROM evently.notifications WHERE created_at < \(cutoff) ORDER BY created_at LIMIT \(limit))
            RETURNING id
            """, logger: logger) { try $0.decode(UUID.self) }.count
    }

    private func transition(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> Bool {
        try await connection.firstRow(query, logger: logger) { try $0.decode(UUID.self) } != nil
    }
}

// MARK: Prepared statements of the delivery path

// Run once or twice for every message sent: prepared (``StatementPreparation``).
extension NotificationStore {
    /// A row `n` whose mark token `$2` may take: queued or failed, and unmarked, marked by the
    /// same token, or marked longer ago than `$3` milliseconds (the sending window).
    static let markIsFree = """
        n.status IN ('queued', 'failed')
          AND (n.sending_by IS NULL OR n.sending_by = $2 OR n.sending_since <= now() - $3 * interval '1 millisecond')
        """

    /// ``markSending(id:by:window:on:)``'s taking of the mark.
    struct TakeSendingMark: PostgresPreparedStatement {
        static let name = "evently_take_sending_mark"
        static let sql = """
            UPDATE evently.notifications AS n SET sending_by = $2, sending_since = now()
            WHERE n.id = $1 AND \(markIsFree)
            RETURNING n.id
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuid, .text, .int8]
        let id: UUID
        let token: String
        let windowMilliseconds: Int

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 3)
            bindings.append(id)
            bindings.append(token)
            bindings.append(Int64(windowMilliseconds))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws {}
    }

    /// ``markSent(_:on:)``. A message without a provider id travels as '' (arrays of optionals
    /// do not bind) and keeps the id the row has.
    struct MarkSentByMarks: PostgresPreparedStatement {
        static let name = "evently_mark_sent_by_marks"
        static let sql = """
            UPDATE evently.notifications AS n
            SET status = 'sent', sent_at = m.sent_at, provider_message_id = coalesce(nullif(m.provider_id, ''), n.provider_message_id),
                sending_by = NULL, sending_since = NULL
            FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS m(id, provider_id, token, sent_at)
            WHERE n.id = m.id AND n.status IN ('queued', 'failed') AND n.sending_by = m.token
            RETURNING n.id
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuidArray, .textArray, .textArray, .timestamptzArray]
        let marks: [SentMark]

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 4)
            bindings.append(marks.map(\.id))
            bindings.append(marks.map { $0.providerMessageID ?? "" })
            bindings.append(marks.map(\.token))
            bindings.append(marks.map(\.at))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
    }

    /// ``markSendingIfOwned(_:window:on:)``. The ownership check is a CTE the UPDATE joins, so
    /// each job's row is locked before its message's mark is written and stays locked until the
    /// statement commits; the join to the user leaves a row without one unmarked. Should two
    /// requests name one notification, one of them takes it (the other is not answered). The
    /// token comes back last, after the row and its user's contact.
    struct TakeSendingMarksIfOwned: PostgresPreparedStatement {
        static let name = "evently_take_sending_marks_if_owned"
        static let sql = """
            WITH owned AS (\(JobContext.ownershipLockSQL(jobIDs: "$4", attempts: "$5")))
            UPDATE evently.notifications AS n SET sending_by = w.token, sending_since = now()
            FROM unnest($1::uuid[], $2::text[], $4::bigint[]) AS w(id, token, job_id)
                 JOIN owned AS o ON o.id = w.job_id,
                 evently.users AS u
            WHERE n.id = ANY ($1::uuid[]) AND n.id = w.id AND u.id = n.user_id
              AND n.status IN ('queued', 'failed')
              AND (n.sending_by IS NULL OR n.sending_by = w.token OR n.sending_since <= now() - $3 * interval '1 millisecond')
            RETURNING \(NotificationStore.columns("n")), u.email, u.phone, w.token
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuidArray, .textArray, .int8, .int8Array, .int4Array]
        let requests: [SendingMarkRequest]
        let windowMilliseconds: Int

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(requests.map(\.id))
            bindings.append(requests.map(\.token))
            bindings.append(Int64(windowMilliseconds))
            bindings.append(requests.map(\.jobID))
            bindings.append(requests.map { Int32($0.attempt) })
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> (String, DeliveryTarget) {
            let columns = row.makeRandomAccess()
            let token = try columns[columns.count - 1].decode(String.self)
            return (token, try ReadDeliveryTarget.decodeTarget(row, trailingColumns: 1))
        }
    }

    /// ``deliveryTarget(id:on:)``: the row's columns first (decoded as everywhere), then the contact.
    struct ReadDeliveryTarget: PostgresPreparedStatement {
        static let name = "evently_read_delivery_target"
        static let sql = """
            SELECT \(NotificationStore.columns("n")), u.email, u.phone
            FROM evently.notifications AS n JOIN evently.users AS u ON u.id = n.user_id
            WHERE n.id = $1
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuid]
        let id: UUID

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 1)
            bindings.append(id)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> DeliveryTarget { try Self.decodeTarget(row) }

        /// The row's columns, then email and phone, then `trailingColumns` more.
        static func decodeTarget(_ row: PostgresRow, trailingColumns: Int = 0) throws -> DeliveryTarget {
            let notification = try NotificationStore.decode(row)
            let columns = row.makeRandomAccess()
            let email = try columns[columns.count - 2 - trailingColumns].decode(String.self)
            let phone = try columns[columns.count - 1 - trailingColumns].decode(String?.self)
            return DeliveryTarget(notification: notification, email: email, phone: phone)
        }
    }
}

/// A message handed to its provider by the attempt whose sending mark (`token`) its row carries.
public struct SentMark: Sendable {
    public var id: UUID
    public var providerMessageID: String?
    public var token: String
    public var at: Date

    public init(id: UUID, providerMessageID: String?, sendingBy token: String, at: Date) {
        self.id = id
        self.providerMessageID = providerMessageID
        self.token = token
        self.at = at
    }
}
