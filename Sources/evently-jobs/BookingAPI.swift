import BookingCore
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import PostgresNIO
import Queue
import Synchronization
import Workers

/// What the booking routes share: the pool, the rules, the user mirror and the way a use case
/// and its follow-up jobs run in one transaction.
struct BookingAPI: Sendable {
    let client: PostgresClient
    let settings: BookingSettings
    let logger: Logger
    let users: UserDirectory
    /// Idempotency keys being booked right now in this process: a duplicate gets 409 at once
    /// instead of waiting for the first to commit.
    let keysInFlight = KeysInFlight()

    init(client: PostgresClient, settings: BookingSettings, logger: Logger) {
        self.client = client
        self.settings = settings
        self.logger = logger
        self.users = UserDirectory(logger: logger)
    }

    /// The caller as a booking user (`user` or `admin`), mirrored into `evently.users`.
    func member(_ context: IntakeContext) async throws -> (id: UUID, isAdmin: Bool) {
        let caller = try context.requireRole([.user, .admin])
        guard let id = UUID(uuidString: caller.userID) else { throw APIError(.unauthorized, "invalid_token", "bad subject") }
        try await users.ensure(caller, id: id, client: client)
        return (id, caller.role == .admin)
    }

    func admin(_ context: IntakeContext) async throws -> UUID {
        _ = try context.requireRole([.admin])
        return try await member(context).id
    }

    /// Runs `body` in a transaction; booking-core errors become HTTP errors.
    func transaction<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await connection.transaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as BookingError {
            throw Self.httpError(error)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55P03" {
            // lock_timeout: the event is too busy right now; the write was rolled back whole.
            throw APIError(.serviceUnavailable, "busy", "the event is busy; retry shortly", headers: [.retryAfter: "1"])
        }
    }

    /// Runs `body` on a connection without a transaction (reads).
    func read<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in try await body(connection) }
        } catch let error as BookingError {
            throw Self.httpError(error)
        }
    }

    func applyFollowUps(_ followUps: [FollowUp], now: Date, on connection: PostgresConnection) async throws {
        try await FollowUpJobs(logger: logger).apply(followUps, now: now, on: connection)
    }

    static func httpError(_ error: BookingError) -> APIError {
        let status: HTTPResponse.Status
        var field: String?
        switch error {
        case .soldOut, .eventNotActive, .eventStarted, .alreadyCancelled, .alreadyOnWaitlist, .eventNotFull,
             .offerExpired, .capacityBelowSold, .idempotencyKeyInFlight, .emailInUse:
            status = .conflict
        case .eventNotFound, .bookingNotFound, .offerNotFound, .notificationNotFound, .notOnWaitlist, .userNotFound:
            status = .notFound
        case .versionConflict:
            status = .preconditionFailed
        case .invalidQuantity:
            status = .badRequest
            field = "quantity"
        case .invalidInput(let name, _):
            status = .badRequest
            field = name
        case .idempotencyMismatch:
            status = .unprocessableContent
        case .adminRequired:
            status = .forbidden
        @unknown default:
            status = .badRequest
        }
        return APIError(status, error.code, error.description, field: field)
    }

    static func uuid(_ context: IntakeContext, _ name: String = "id") throws -> UUID {
        guard let text = context.parameters.get(name), let id = UUID(uuidString: text) else {
            throw APIError.badRequest("'\(name)' must be a UUID", field: name)
        }
        return id
    }
}

/// Mirrors token claims into `evently.users` once per claim set and process.
final class UserDirectory: Sendable {
    private let seen = Mutex<Set<String>>([])
    let store: UserStore

    init(logger: Logger) {
        store = UserStore(logger: logger)
    }

    func ensure(_ caller: Caller, id: UUID, client: PostgresClient) async throws {
        let key = "\(caller.userID)|\(caller.email)|\(caller.role.rawValue)|\(caller.phone ?? "")"
        if seen.withLock({ $0.contains(key) }) { return }
        let claims = UserClaims(id: id, email: caller.email, role: caller.role == .admin ? .admin : .user, phone: caller.phone)
        do {
            _ = try await client.withConnection { connection in
                try await store.upsert(claims, now: Date(), on: connection)
            }
        } catch let error as BookingError {
            throw BookingAPI.httpError(error)
        }
        seen.withLock { _ = $0.insert(key) }
    }
}

final class KeysInFlight: Sendable {
    private let keys = Mutex<Set<String>>([])

    /// Runs `body` unless `key` is already running; then throws 409.
    func run<T>(_ key: String, _ body: () async throws -> T) async throws -> T {
        guard keys.withLock({ $0.insert(key).inserted }) else {
            throw APIError(.conflict, "idempotency_key_in_flight", "a request with this Idempotency-Key is still being processed")
        }
        defer { _ = keys.withLock { $0.remove(key) } }
        return try await body()
    }
}

// MARK: Response bodies (snake_case, money as decimal strings)

struct EventBody: Encodable {
    var id: UUID
    var name: String
    var venue: String
    var startsAt: Date
    var capacity: Int
    var availableSeats: Int
    var price: String
    var currentPrice: String
    var waitlistMode: String
    var status: String
    var version: Int

    init(_ event: Event, pricing: PricingPolicy) {
        id = event.id
        name = event.name
        venue = event.venue
        startsAt = event.startsAt
        capacity = event.totalCapacity
        availableSeats = event.availableSeats
        price = Money.text(event.basePrice)
        currentPrice = Money.text(pricing.quote(event))
        waitlistMode = event.waitlistMode.rawValue
        status = event.status.rawValue
        version = event.version
    }

    enum CodingKeys: String, CodingKey {
        case id, name, venue, capacity, price, status, version
        case startsAt = "starts_at", availableSeats = "available_seats", currentPrice = "current_price", waitlistMode = "waitlist_mode"
    }
}

struct BookingBody: Encodable {
    var id: UUID
    var reference: String
    var eventID: UUID
    var quantity: Int
    var totalAmount: String
    var status: String
    var createdAt: Date

    init(_ booking: Booking) {
        id = booking.id
        reference = booking.reference
        eventID = booking.eventID
        quantity = booking.quantity
        totalAmount = Money.text(booking.totalAmount)
        status = booking.status.rawValue
        createdAt = booking.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, reference, quantity, status
        case eventID = "event_id", totalAmount = "total_amount", createdAt = "created_at"
    }
}

struct WaitlistBody: Encodable {
    var id: UUID
    var eventID: UUID
    var quantity: Int
    var status: String
    var position: Int?
    var channels: [String]
    var offerExpiresAt: Date?
    var offeredSeats: Int?
    var offeredAmount: String?
    var bookingID: UUID?

    init(_ entry: WaitlistEntry) {
        id = entry.id
        eventID = entry.eventID
        quantity = entry.quantity
        status = entry.status.rawValue
        position = entry.position
        channels = entry.channels.map(\.rawValue)
        offerExpiresAt = entry.offerExpiresAt
        offeredSeats = entry.offeredSeats
        offeredAmount = entry.offeredAmount.map(Money.text)
        bookingID = entry.bookingID
    }

    enum CodingKeys: String, CodingKey {
        case id, quantity, status, position, channels
        case eventID = "event_id", offerExpiresAt = "offer_expires_at", offeredSeats = "offered_seats"
        case offeredAmount = "offered_amount", bookingID = "booking_id"
    }
}

struct NotificationBody: Encodable {
    var id: UUID
    var type: String
    var template: String
    var subject: String?
    var body: String?
    var status: String
    var eventID: UUID?
    var bookingID: UUID?
    var createdAt: Date
    var sentAt: Date?
    var deliveredAt: Date?
    var failedAt: Date?
    var skippedAt: Date?
    var readAt: Date?
    /// Why the last delivery attempt failed or was skipped.
    var lastError: String?

    init(_ notification: UserNotification) {
        id = notification.id
        type = notification.type.rawValue
        template = notification.template
        subject = notification.content["subject"]
        body = notification.content["body"]
        status = notification.status.rawValue
        eventID = notification.eventID
        bookingID = notification.bookingID
        createdAt = notification.createdAt
        sentAt = notification.sentAt
        deliveredAt = notification.deliveredAt
        failedAt = notification.failedAt
        skippedAt = notification.skippedAt
        readAt = notification.readAt
        lastError = notification.lastError
    }

    enum CodingKeys: String, CodingKey {
        case id, type, template, subject, body, status
        case eventID = "event_id", bookingID = "booking_id", createdAt = "created_at", readAt = "read_at"
        case sentAt = "sent_at", deliveredAt = "delivered_at", failedAt = "failed_at", skippedAt = "skipped_at"
        case lastError = "last_error"
    }
}

extension Money {
    /// Parses "49.90" (a string, so no binary floating point touches money).
    static func parse(_ text: String, field: String) throws -> Decimal {
        guard text.range(of: #"^[0-9]{1,10}(\.[0-9]{1,2})?$"#, options: .regularExpression) != nil,
              let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw APIError.badRequest("'\(field)' must be a decimal string such as \"49.90\"", field: field)
        }
        return value
    }
}
