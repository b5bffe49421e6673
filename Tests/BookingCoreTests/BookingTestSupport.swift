import BookingCore
import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

/// A fresh migrated database per test, plus small builders for users and events.
struct BookingFixture {
    static let logger = TestDatabase.logger

    /// The booking migrations as the daemon records them.
    static var migrations: [SchemaMigration] {
        BookingSchema.migrations.map {
            SchemaMigration(module: BookingSchema.module, version: $0.version, name: $0.name, sql: $0.sql)
        }
    }

    let client: PostgresClient
    let users: UserStore
    let events: EventStore
    let bookings: BookingStore
    let waitlist: WaitlistStore
    let notifications: NotificationStore
    let analytics: AnalyticsQueries
    /// The test's "now"; events start 30 days later.
    let now: Date

    init(client: PostgresClient, now: Date = Date(timeIntervalSince1970: 1_900_000_000), lockTimeout: Duration = .seconds(2)) {
        self.client = client
        self.users = UserStore(logger: Self.logger)
        self.events = EventStore(logger: Self.logger, lockTimeout: lockTimeout)
        self.bookings = BookingStore(logger: Self.logger, lockTimeout: lockTimeout)
        self.waitlist = WaitlistStore(logger: Self.logger, lockTimeout: lockTimeout)
        self.notifications = NotificationStore(logger: Self.logger)
        self.analytics = AnalyticsQueries(logger: Self.logger)
        self.now = now
    }

    /// `lockTimeout` is the stores' (2 s in production).
    static func with<T: Sendable>(maximumConnections: Int = 20, lockTimeout: Duration = .seconds(2),
                                  _ body: (BookingFixture) async throws -> T) async throws -> T {
        try await TestDatabase.withClient(migrations: migrations, maximumConnections: maximumConnections) { client in
            try await body(BookingFixture(client: client, lockTimeout: lockTimeout))
        }
    }

    /// Runs `body` in its own transaction on a pooled connection (committed unless it throws).
    func tx<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await connection.transaction(logger: Self.logger) { connection in
                try await body(connection)
            }
        }
    }

    func user(_ role: UserRole = .user, name: String = UUID().uuidString, phone: String? = nil) async throws -> User {
        try await tx { connection in
            try await users.upsert(UserClaims(id: UUID(), email: "\(name)@example.org", role: role, phone: phone),
                                   now: now, on: connection)
        }
    }

    func event(capacity: Int, price: Decimal = 10, mode: WaitlistMode = .offer, startsIn: TimeInterval = 30 * 86_400,
               name: String = "Concert", by admin: User? = nil) async throws -> Event {
        let creator: User
        if let admin { creator = admin } else { creator = try await user(.admin) }
        return try await tx { connection in
            try await events.create(
                NewEvent(name: name, venue: "Hall", startsAt: now.addingTimeInterval(startsIn), capacity: capacity,
                         basePrice: price, waitlistMode: mode),
                by: creator.id, now: now, on: connection)
        }
    }

    func book(_ user: User, _ event: Event, _ quantity: Int, key: String? = nil, hash: String? = nil,
              at time: Date? = nil, pricing: PricingPolicy = .flat) async throws -> BookingOutcome {
        try await tx { connection in
            try await bookings.book(userID: user.id, eventID: event.id, quantity: quantity, idempotencyKey: key,
                                    requestHash: hash, now: time ?? now, pricing: pricing, on: connection)
        }
    }

    func reload(_ event: Event) async throws -> Event {
        try await tx { try await events.get(id: event.id, on: $0) }
    }

    func scalar<T: PostgresDecodable & Sendable>(_ type: T.Type, _ query: PostgresQuery) async throws -> T {
        let rows = try await client.query(query, logger: Self.logger)
        for try await value in rows.decode(T.self) { return value }
        throw StoredRowMissing(sql: query.sql)
    }

    /// Seats of confirmed bookings of the event, counted by SQL independently of the stores.
    func confirmedSeats(_ event: Event) async throws -> Int {
        try await scalar(Int.self, """
            SELECT coalesce(sum(quantity), 0)::int FROM evently.bookings WHERE event_id = \(event.id) AND status = 'confirmed'
            """)
    }
}

struct StoredRowMissing: Error, CustomStringConvertible {
    var sql: String
    var description: String { "query returned no row: \(sql)" }
}

/// Wall-clock durations of the concurrency tests, printed so runs can be compared.
func reportTiming(_ what: String, _ duration: Duration) {
    let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    print("timing: \(what): \(milliseconds) ms")
}
