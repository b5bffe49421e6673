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
    /// How long one request's database work may take (`http.database_timeout`).
    let databaseTimeout: Duration
    let logger: Logger
    let users: UserDirectory
    /// Idempotency keys being booked right now in this process: a duplicate gets 409 at once
    /// instead of waiting for the first to commit.
    let keysInFlight = KeysInFlight()
    /// `evently_bookings_total{outcome}`.
    let metrics: BookingMetrics
    /// `POST /v1/bookings`, one event's bookings committed in groups.
    let bookings: CombinedBookings

    /// Where reads that may be a little behind go (``replicaRead(_:)``).
    let readTargets: ReadTargets?

    init(client: PostgresClient, settings: BookingSettings, databaseTimeout: Duration, logger: Logger,
         metrics: BookingMetrics = BookingMetrics(), readTargets: ReadTargets? = nil) {
        self.metrics = metrics
        self.client = client
        self.readTargets = readTargets
        self.settings = settings
        self.databaseTimeout = databaseTimeout
        self.logger = logger
        self.users = UserDirectory(logger: logger)
        self.bookings = CombinedBookings(client: client, settings: settings, databaseTimeout: databaseTimeout, logger: logger)
    }

    /// The caller's user id when they are a booking user (`user` or `admin`), mirrored into
    /// `evently.users`; 401 without a token, 403 for another role.
    func member(_ context: IntakeContext) async throws -> UUID {
        try await mirrored(try context.requireRole([.user, .admin]))
    }

    /// The caller's user id when they are an admin, mirrored into `evently.users`.
    func admin(_ context: IntakeContext) async throws -> UUID {
        try await mirrored(try context.requireRole([.admin]))
    }

    private func mirrored(_ caller: Caller) async throws -> UUID {
        try await users.ensure(caller, client: client, within: databaseTimeout)
        return caller.userID
    }

    /// Runs `body` in a transaction; booking-core errors become HTTP errors.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withOpenConnection(within: databaseTimeout) { [logger] connection in
                try await connection.transaction(logger: logger) { connection in try await body(connection) }
            }
        } catch {
            throw Self.writeError(error)
        }
    }

    /// A write's error as the client sees it: booking-core errors become HTTP errors, a lock
    /// wait past `lock_timeout` 503 (the write was rolled back whole).
    static func writeError(_ error: any Error) -> any Error {
        switch error {
        case let error as BookingError:
            return httpError(error)
        case let error as PSQLError where error.serverInfo?[.sqlState] == "55P03":
            return APIError(.serviceUnavailable, "busy", "the event is busy; retry shortly", headers: [.retryAfter: "1"])
        default:
            return error
        }
    }

    /// Runs `body` on a connection without a transaction (reads).
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await client.withOpenConnection(within: databaseTimeout) { connection in try await body(connection) }
        } catch let error as BookingError {
            throw Self.httpError(error)
        }
    }

    /// ``read(_:)`` for what may be a little behind the primary (analytics, reports, event
    /// lists): on the replica while it is current (``ReadTargets``), else on the primary.
    func replicaRead<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let reads = readTargets?.reads ?? client
        do {
            return try await reads.withOpenConnection(within: databaseTimeout) { connection in try await body(connection) }
        } catch let error as BookingError {
            throw Self.httpError(error)
        } catch where reads !== client && ReadTargets.isReplicaTrouble(error) {
            // The replica failed between two checks (or cancelled the query for its replay):
            // the primary answers this one.
            return try await read(body)
        }
    }

    /// Enqueues the jobs a booking use case asked for, on its transaction's connection.
    func applyFollowUps(_ followUps: [FollowUp], on connection: PostgresConnection) async throws {
        try await FollowUpJobs(logger: logger).apply(followUps, on: connection)
    }

    /// Runs a booking use case (given the connection and its `now`) in one transaction with the
    /// jobs its outcome asks for, and returns the outcome's value.
    func transaction<T: Sendable>(
        followingUp useCase: @escaping @Sendable (PostgresConnection, Date) async throws -> Outcome<T>
    ) async throws -> T {
        try await transaction { connection in
            let outcome = try await useCase(connection, Date())
            try await applyFollowUps(outcome.followUps, on: connection)
            return outcome.value
        }
    }

    static func httpError(_ error: BookingError) -> APIError {
        let status: HTTPResponse.Status
        var field: String?
        switch error {
        case .soldOut, .eventNotActive, .eventStarted, .eventStartedCannotCancel, .alreadyCancelled, .alreadyOnWaitlist, .eventNotFull,
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

    /// 400 unless `quantity` seats may be asked for at once (1 to `booking.max_quantity`).
    func checkQuantity(_ quantity: Int) throws(APIError) {
        guard (1...settings.maxQuantity).contains(quantity) else {
            throw APIError.badRequest("'quantity' must be between 1 and \(settings.maxQuantity)", field: "quantity")
        }
    }

    /// The path parameter `name` as a UUID, or 400 naming it.
    static func uuid(_ context: IntakeContext, _ name: String = "id") throws -> UUID {
        guard let text = context.parameters.get(name), let id = UUID(uuidString: text) else {
            throw APIError.badRequest("'\(name)' must be a UUID", field: name)
        }
        return id
    }
}
