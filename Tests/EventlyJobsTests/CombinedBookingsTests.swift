import BookingCore
import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// The intake's booking path (`CombinedBookings`) against a real database: bookings of one event
/// that arrive while one of its transactions runs are committed together, each with its own
/// answer, and a group that cannot go together falls back to one transaction each.
@Suite(.timeLimit(.minutes(5))) struct CombinedBookingsTests {
    let logger = TestDatabase.logger

    func setUp(_ client: PostgresClient, capacity: Int) async throws -> (event: UUID, users: [UUID]) {
        try await client.withConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                var users: [UUID] = []
                for index in 0..<8 {
                    users.append(try await UserStore(logger: logger).upsert(
                        UserClaims(id: UUID(), email: "u\(index)-\(UUID().uuidString.prefix(6))@example.org", role: index == 0 ? .admin : .user),
                        now: Date(), on: connection).id)
                }
                let event = try await EventStore(logger: logger).create(
                    NewEvent(name: "Hot", venue: "Hall", startsAt: Date().addingTimeInterval(86_400), capacity: capacity,
                             basePrice: 10, waitlistMode: .offer), by: users[0], now: Date(), on: connection)
                return (event.id, users)
            }
        }
    }

    func attempt<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    func scalar(_ client: PostgresClient, _ query: PostgresQuery) async throws -> Int {
        for try await value in try await client.query(query, logger: logger).decode(Int.self) { return value }
        return -1
    }

    /// The event row is held by another transaction while requests arrive: the first waits on it
    /// alone, the others wait in the combiner and then go as one group, in which an unknown user
    /// sends the group one by one: the unknown user gets its own 404, the others their bookings.
    @Test func aGroupWithAnUnknownUserIsBookedOneByOne() async throws {
        try await TestDatabase.withClient(migrations: DatabaseSchema.migrations) { client in
            let (event, users) = try await setUp(client, capacity: 100)
            let bookings = CombinedBookings(client: client, settings: BookingSettings(), databaseTimeout: .seconds(30), logger: logger)
            let unknown = UUID()
            try await client.withConnection { holder in
                try await holder.query("BEGIN", logger: logger)
                try await holder.query("SELECT 1 FROM evently.events WHERE id = \(event) FOR UPDATE", logger: logger)
                let results = try await withThrowingTaskGroup(of: (UUID, Result<BookingOutcome, any Error>).self) { group in
                    group.addTask {
                        let result = await attempt { try await bookings.book(BookingRequest(userID: users[1], quantity: 1, idempotencyKey: "first"), eventID: event) }
                        return (users[1], result)
                    }
                    // The first runs (blocked on the row); these wait behind it.
                    for user in [users[2], unknown, users[3], users[4]] {
                        group.addTask {
                            let result = await attempt { try await bookings.book(BookingRequest(userID: user, quantity: 2, idempotencyKey: "k"), eventID: event) }
                            return (user, result)
                        }
                    }
                    let deadline = ContinuousClock.now + .seconds(30)
                    while bookings.waiting(for: event) < 4 {
                        try #require(ContinuousClock.now < deadline, "four bookings waiting behind the first")
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    try await holder.query("COMMIT", logger: logger)
                    return try await group.reduce(into: [UUID: Result<BookingOutcome, any Error>]()) { $0[$1.0] = $1.1 }
                }
                for user in [users[1], users[2], users[3], users[4]] {
                    let booking = try results[user]!.get().booking
                    #expect(booking.userID == user)
                }
                #expect(throws: BookingError.userNotFound) { try results[unknown]!.get() }
            }
            #expect(try await scalar(client, "SELECT available_seats FROM evently.events WHERE id = \(event)") == 100 - 7)
            #expect(try await scalar(client, "SELECT count(*)::int FROM evently.bookings WHERE event_id = \(event)") == 4)
        }
    }

    /// A group whose row lock wait passes lock_timeout (2 s) is not refused whole: each of its
    /// requests is booked on its own. The row is held for 5 s: the first booking (alone) times
    /// out at 2 s, the group behind it at about 4 s, and its requests, one by one, then get the
    /// row once it is free.
    @Test func aGroupPastTheLockTimeoutIsBookedOneByOne() async throws {
        try await TestDatabase.withClient(migrations: DatabaseSchema.migrations) { client in
            let (event, users) = try await setUp(client, capacity: 100)
            let bookings = CombinedBookings(client: client, settings: BookingSettings(), databaseTimeout: .seconds(60), logger: logger)
            try await client.withConnection { holder in
                try await holder.query("BEGIN", logger: logger)
                try await holder.query("SELECT 1 FROM evently.events WHERE id = \(event) FOR UPDATE", logger: logger)
                let held = ContinuousClock.now
                let results = try await withThrowingTaskGroup(of: (Int, Result<BookingOutcome, any Error>).self) { group in
                    for index in 1...4 {
                        group.addTask {
                            (index, await attempt { try await bookings.book(BookingRequest(userID: users[index], quantity: 1, idempotencyKey: "t"),
                                                                            eventID: event) })
                        }
                        if index == 1 {
                            // The first leads alone; the other three wait behind it.
                            let deadline = ContinuousClock.now + .seconds(30)
                            while try await scalar(client, "SELECT count(*)::int FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'") < 1 {
                                try #require(ContinuousClock.now < deadline, "the first booking waiting on the row")
                                try await Task.sleep(for: .milliseconds(5))
                            }
                        }
                    }
                    try await Task.sleep(until: held + .seconds(5))
                    try await holder.query("COMMIT", logger: logger)
                    return try await group.reduce(into: [Int: Result<BookingOutcome, any Error>]()) { $0[$1.0] = $1.1 }
                }
                #expect(throws: PSQLError.self) { try results[1]!.get() }
                for index in 2...4 { #expect(try results[index]!.get().booking.userID == users[index]) }
            }
        }
    }

    /// Many concurrent bookings of one event through the combiner: exactly the capacity is sold,
    /// every request is answered (a booking or sold out), in fewer seat updates than bookings,
    /// and every booking has its confirmation job.
    @Test func concurrentBookingsAreCommittedInGroupsWithoutOverselling() async throws {
        try await TestDatabase.withClient(migrations: DatabaseSchema.migrations, maximumConnections: 30) { client in
            let (event, users) = try await setUp(client, capacity: 150)
            let bookings = CombinedBookings(client: client, settings: BookingSettings(combineMax: 16), databaseTimeout: .seconds(60),
                                            logger: logger)
            let outcomes = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<400 {
                    group.addTask {
                        let quantity = index % 3 + 1
                        do {
                            _ = try await bookings.book(BookingRequest(userID: users[index % users.count], quantity: quantity,
                                                                       idempotencyKey: "c\(index)", requestHash: "h"), eventID: event)
                            return quantity
                        } catch BookingError.soldOut {
                            return 0
                        }
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(outcomes.reduce(0, +) == 150)
            #expect(try await scalar(client, "SELECT available_seats FROM evently.events WHERE id = \(event)") == 0)
            #expect(try await scalar(client, "SELECT coalesce(sum(quantity), 0)::int FROM evently.bookings WHERE event_id = \(event)") == 150)
            let confirmed = outcomes.filter { $0 > 0 }.count
            let steps = try await scalar(client, "SELECT version - 1 FROM evently.events WHERE id = \(event)")
            #expect(steps < confirmed, "\(confirmed) bookings in \(steps) seat updates")
            let notified = try await scalar(client, """
                SELECT count(*)::int FROM evently_jobs.jobs AS j, jsonb_array_elements(j.args -> 'notices') AS n
                WHERE j.kind = 'notifications.dispatch'
                """)
            #expect(notified == confirmed, "one confirmation per booking")
        }
    }
}
