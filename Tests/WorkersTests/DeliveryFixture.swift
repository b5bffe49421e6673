import BookingCore
import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing
@testable import Workers

/// A migrated database, a few booking-core builders, and a real job daemon running the real
/// worker catalog against whatever SMTP/SMS servers a test started.
struct DeliveryFixture {
    static let logger = TestDatabase.logger

    static var migrations: [SchemaMigration] {
        QueueSchema.migrations + BookingSchema.migrations.map {
            SchemaMigration(module: BookingSchema.module, version: $0.version, name: $0.name, sql: $0.sql)
        }
    }

    let client: PostgresClient

    static func with<T: Sendable>(_ body: (DeliveryFixture) async throws -> T) async throws -> T {
        try await TestDatabase.withClient(migrations: migrations, maximumConnections: 12) { client in
            try await body(DeliveryFixture(client: client))
        }
    }

    func tx<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await connection.transaction(logger: Self.logger) { try await body($0) }
        }
    }

    func user(_ name: String = "ann-\(UUID().uuidString.prefix(6))", phone: String? = nil, role: UserRole = .user) async throws -> User {
        try await tx {
            try await UserStore(logger: Self.logger).upsert(
                UserClaims(id: UUID(), email: "\(name)@example.org", role: role, phone: phone), now: Date(), on: $0)
        }
    }

    func event(capacity: Int = 100, price: Decimal = 25, startsAt: Date = Date().addingTimeInterval(30 * 86_400),
               createdAt: Date = Date()) async throws -> Event {
        let admin = try await user("admin-\(UUID().uuidString.prefix(6))", role: .admin)
        return try await tx {
            try await EventStore(logger: Self.logger).create(
                NewEvent(name: "Night Concert", venue: "Main Hall", startsAt: startsAt, capacity: capacity, basePrice: price),
                by: admin.id, now: createdAt, on: $0)
        }
    }

    /// Books through the booking core and hands its follow-ups (notifications) to the dispatcher,
    /// in one transaction, exactly as the intake does.
    @discardableResult
    func book(_ user: User, _ event: Event, quantity: Int, at time: Date = Date()) async throws -> Booking {
        try await tx { connection in
            let outcome = try await BookingStore(logger: Self.logger).book(
                userID: user.id, eventID: event.id, quantity: quantity, now: time, pricing: .flat, on: connection)
            try await FollowUpJobs(logger: Self.logger).apply(outcome.followUps, on: connection)
            return outcome.booking
        }
    }

    /// The notification rows of `user`, by channel.
    func notifications(of user: User) async throws -> [NotificationChannel: [UserNotification]] {
        let rows = try await client.withConnection {
            try await NotificationStore(logger: Self.logger).list(userID: user.id, limit: 500, on: $0)
        }
        return Dictionary(grouping: rows, by: \.type)
    }

    func notification(_ id: UUID) async throws -> UserNotification {
        try #require(try await client.withConnection {
            try await NotificationStore(logger: Self.logger).deliveryTarget(id: id, on: $0)
        }?.notification)
    }

    /// The user's email row once its delivery has an outcome: sent, or at least one failed
    /// attempt recorded.
    func emailOutcome(of user: User, sourceLocation: SourceLocation = #_sourceLocation) async throws -> UserNotification {
        try await waitUntil("the email row to be sent or to record a failure", sourceLocation: sourceLocation) {
            let row = try await notifications(of: user)[.email]?.first
            return row?.status == .sent || row?.lastError != nil
        }
        return try #require(try await notifications(of: user)[.email]?.first, sourceLocation: sourceLocation)
    }

    /// State and attempt of every job of `kind`.
    func jobs(_ kind: String) async throws -> [(id: Int64, state: String, attempt: Int, errors: String)] {
        try await client.withConnection { connection in
            let rows = try await connection.query(
                "SELECT id, state::text, attempt, errors::text FROM evently_jobs.jobs WHERE kind = \(kind) ORDER BY id",
                logger: Self.logger)
            var result: [(Int64, String, Int, String)] = []
            for try await (id, state, attempt, errors) in rows.decode((Int64, String, Int, String).self) {
                result.append((id, state, attempt, errors))
            }
            return result
        }
    }

    /// Polls `condition` every 50 ms until it holds.
    func waitUntil(_ what: String, timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
                   _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
                throw TestServerError("timed out waiting for \(what)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Until no job of `kinds` (nor a `notifications.dispatch` job, which makes the delivery
    /// jobs) is waiting or running.
    func waitForJobsToSettle(_ kinds: [String], timeout: Duration = .seconds(30),
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let kinds = kinds + [NotificationDispatchWorker.Payload.kind]
        try await waitUntil("jobs \(kinds) to finish", timeout: timeout, sourceLocation: sourceLocation) {
            try await client.withConnection { connection in
                let rows = try await connection.query("""
                    SELECT count(*)::int FROM evently_jobs.jobs
                    WHERE kind = ANY(\(kinds)) AND state::text IN ('available', 'scheduled', 'retryable', 'running')
                    """, logger: Self.logger)
                for try await count in rows.decode(Int.self) { return count == 0 }
                return false
            }
        }
    }

    /// Runs a daemon with the real worker catalog while `body` runs. Retries start after 200 ms.
    func withDaemon<T: Sendable>(delivery: DeliverySettings, _ body: () async throws -> T) async throws -> T {
        let registry = try WorkerCatalog.makeRegistry(client: client, retention: .seconds(86_400), delivery: delivery)
        var configuration = JobDaemon.Configuration()
        configuration.queues = ["default": 4, NotificationDispatch.queue: 4]
        configuration.pollInterval = .milliseconds(100)
        configuration.retryPolicy = RetryPolicy(base: .milliseconds(200), cap: .seconds(2), jitter: 0)
        configuration.workerName = "delivery-test-\(UUID().uuidString.prefix(8))"
        let daemon = JobDaemon(client: client, registry: registry, configuration: configuration, logger: Self.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// Runs `daemon` while `body` runs.
    static func running<T: Sendable>(_ daemon: JobDaemon, _ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// A queued email row for `user` with a subject and body, made without a dispatch job.
    func emailRow(for user: User, subject: String = "Your tickets") async throws -> UUID {
        try await tx {
            try await NotificationStore(logger: Self.logger).create(
                userID: user.id, type: .email, template: "booking_confirmed",
                content: ["subject": subject, "body": "See you there.", "email_body": "Hello,\n\nSee you there.\n"],
                channels: [.email], now: Date(), on: $0).notification.id
        }
    }

    /// The row's sending mark: the attempt that holds it and since when.
    func sendingMark(_ id: UUID) async throws -> (by: String?, since: Date?) {
        try await client.withConnection { connection in
            let rows = try await connection.query(
                "SELECT sending_by, sending_since FROM evently.notifications WHERE id = \(id)", logger: Self.logger)
            for try await (by, since) in rows.decode((String?, Date?).self) { return (by, since) }
            return (nil, nil)
        }
    }

    static func smtp(_ server: SMTPTestServer, user: String? = nil, password: String? = nil) -> DeliverySettings {
        var delivery = DeliverySettings()
        delivery.smtp.host = server.host
        delivery.smtp.port = server.port
        delivery.smtp.security = .off
        delivery.smtp.user = user
        delivery.smtp.password = password
        delivery.smtp.from = "Evently Tickets <tickets@evently.example>"
        delivery.smtp.timeout = .seconds(5)
        return delivery
    }
}
