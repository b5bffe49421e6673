import ArgumentParser
import AsyncHTTPClient
import BookingCore
import Foundation
import JWTKit
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Prometheus
import Queue
import Synchronization
import Workers

/// `evently-jobs bench-bookings`: bookings per second through the HTTP intake beside the same
/// booking statements run directly, on one hot event and spread over many, interleaved.
struct BookingBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-bookings", abstract: "Measure bookings/s over HTTP against the same SQL run directly.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "Concurrent clients.") var clients = 64
    @Option(help: "Seconds per measurement.") var seconds = 5
    @Option(help: "Rounds of direct then HTTP, per scenario.") var rounds = 2
    @Option(help: "Events for the spread scenario.") var events = 64
    @Flag(help: "Let the daemon work the bookings' notification jobs during the run (paused by default, so the booking path is measured alone).")
    var deliverNotifications = false

    static let secret = "bench-secret-0123456789abcdef0123456789"

    func run() async throws {
        try await options.withDatabase(logLevel: { _ in .warning }) { config, logger, base in
            let clientConfiguration = try await BenchCommand.freshDatabase("evently_bench_bookings", base: base, logger: logger)

            let daemonConfig = BenchDaemon.configuration(config, secret: Self.secret)
            try await BenchDaemon.running(daemonConfig, clientConfiguration: clientConfiguration, connections: clients,
                                          logger: logger) { client, http, port in
                let setup = try await prepare(client: client, logger: logger)
                if !deliverNotifications {
                    try await JobClient(client: client, logger: logger).setPaused(true, queue: NotificationDispatch.queue)
                }
                print("evently-jobs bench-bookings: \(clients) clients, \(seconds) s per measurement, \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                      + "notification jobs \(deliverNotifications ? "worked during the run" : "paused")")
                let combined = CombinedBookings(client: client, settings: daemonConfig.booking,
                                                databaseTimeout: .seconds(60), logger: logger)
                var lines = ["", "| scenario | round | direct, one transaction per booking (bookings/s) | direct, combined (combine_max \(daemonConfig.booking.combineMax)) | combined ÷ one per booking | HTTP (combined) | HTTP ÷ one per booking |",
                             "|---|---|---|---|---|---|---|"]
                for (scenario, eventIDs) in [("one hot event", [setup.hotEvent]), ("spread over \(events) events", setup.spreadEvents)] {
                    for round in 1...rounds {
                        let direct = try await measureDirect(client: client, users: setup.users, events: eventIDs, logger: logger)
                        let together = try await measureDirect(client: client, users: setup.users, events: eventIDs, combined: combined,
                                                               logger: logger)
                        let viaHTTP = try await measureHTTP(http: http, port: port, tokens: setup.tokens, events: eventIDs)
                        let line = String(format: "| %@ | %d | %.0f | %.0f | %.2f | %.0f | %.2f |", scenario, round, direct, together,
                                          together / direct, viaHTTP, viaHTTP / direct)
                        lines.append(line)
                        print(line)
                    }
                }
                print(lines.joined(separator: "\n"))
            }
        }
    }

    struct Setup {
        var users: [UUID]
        var tokens: [String]
        var hotEvent: UUID
        var spreadEvents: [UUID]
    }

    /// Users (one per client, with tokens) and events with room for every booking of the run.
    func prepare(client: PostgresClient, logger: Logger) async throws -> Setup {
        let (users, tokens) = try await BenchDaemon.users(clients, secret: Self.secret, client: client, logger: logger)
        let eventStore = EventStore(logger: logger)
        func event(_ name: String) async throws -> UUID {
            try await client.withOpenConnection { connection in
                try await eventStore.create(NewEvent(name: name, venue: "Bench Hall", startsAt: Date().addingTimeInterval(86_400 * 30),
                                                     capacity: 5_000_000, basePrice: 25, waitlistMode: .offer),
                                            by: users[0], now: Date(), on: connection).id
            }
        }
        let hot = try await event("hot")
        var spread: [UUID] = []
        for index in 0..<events { spread.append(try await event("spread \(index)")) }
        return Setup(users: users, tokens: tokens, hotEvent: hot, spreadEvents: spread)
    }

    /// The booking transaction the intake runs (book + follow-ups), without HTTP around it: one
    /// transaction per booking, or through `combined` as the intake does.
    func measureDirect(client: PostgresClient, users: [UUID], events: [UUID], combined: CombinedBookings? = nil,
                       logger: Logger) async throws -> Double {
        let deadline = ContinuousClock.now + .seconds(seconds)
        let store = BookingStore(logger: logger)
        let followUps = FollowUpJobs(logger: logger)
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<clients {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < deadline {
                        let eventID = events[(index + done) % events.count]
                        if let combined {
                            _ = try await combined.book(BookingRequest(userID: users[index], quantity: 1, idempotencyKey: UUID().uuidString,
                                                                       requestHash: "bench"), eventID: eventID)
                            done += 1
                            continue
                        }
                        try await client.withOpenConnection { connection in
                            try await connection.transaction(logger: logger) { connection in
                                let outcome = try await store.book(userID: users[index], eventID: eventID, quantity: 1,
                                                                   idempotencyKey: UUID().uuidString, requestHash: "bench", now: Date(),
                                                                   pricing: .standard, on: connection)
                                try await followUps.apply(outcome.followUps, on: connection)
                            }
                        }
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / Double(seconds)
    }

    func measureHTTP(http: HTTPClient, port: Int, tokens: [String], events: [UUID]) async throws -> Double {
        let deadline = ContinuousClock.now + .seconds(seconds)
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<clients {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < deadline {
                        let status = try await BenchDaemon.bookOneSeat(http: http, port: port, token: tokens[index],
                                                                       eventID: events[(index + done) % events.count])
                        guard status == 201 else { throw CommandFailure(message: "booking over HTTP answered \(status)") }
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / Double(seconds)
    }
}

/// The benches' in-process daemon: its HTTP intake on a free loopback port, open to the bench's
/// tokens, with no rate limits and no scheduler.
enum BenchDaemon {
    static func configuration(_ config: JobsConfig, secret: String) -> JobsConfig {
        var daemonConfig = config
        daemonConfig.http.port = 0
        daemonConfig.http.host = "127.0.0.1"
        daemonConfig.intake.jwtSecret = secret
        daemonConfig.intake.rateLimitPerUser = 0
        daemonConfig.intake.rateLimitPerAddress = 0
        daemonConfig.scheduling.enabled = false
        return daemonConfig
    }

    /// `count` users, the first an admin, stored with a bearer token each signed with `secret`;
    /// with `phones`, each has a phone number, so its bookings are texted too.
    static func users(_ count: Int, secret: String, phones: Bool = false, client: PostgresClient,
                      logger: Logger) async throws -> (ids: [UUID], tokens: [String]) {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        var users: [UUID] = []
        var tokens: [String] = []
        let userStore = UserStore(logger: logger)
        for index in 0..<count {
            let id = UUID()
            let role: UserRole = index == 0 ? .admin : .user
            let email = "bench\(index)@evently.example"
            let phone = phones ? "+1555\(String(format: "%07d", index))" : nil
            _ = try await client.withOpenConnection { connection in
                try await userStore.upsert(UserClaims(id: id, email: email, role: role, phone: phone), now: Date(), on: connection)
            }
            users.append(id)
            tokens.append(try await keys.sign(Authenticator.Claims(
                sub: .init(value: id.uuidString), email: email, role: role.rawValue,
                exp: .init(value: Date().addingTimeInterval(6 * 3600)), phoneNumber: phone)))
        }
        return (users, tokens)
    }

    /// `POST /v1/bookings` for one seat of `eventID` with a fresh idempotency key; the status.
    static func bookOneSeat(http: HTTPClient, port: Int, token: String, eventID: UUID) async throws -> UInt {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/bookings")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: UUID().uuidString)
        request.body = .bytes(ByteBuffer(string: #"{"event_id": "\#(eventID)", "quantity": 1}"#))
        let response = try await http.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 16)
        return response.status.code
    }

    /// Runs the daemon of `config`, then `body` with a database client, an HTTP client of
    /// `connections` connections and the intake's port; stops the daemon after it.
    static func running(_ config: JobsConfig, clientConfiguration: PostgresClient.Configuration, connections: Int, logger: Logger,
                        _ body: @escaping @Sendable (PostgresClient, HTTPClient, Int) async throws -> Void) async throws {
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var daemon = Daemon(config: config, clientConfiguration: clientConfiguration,
                            metrics: PrometheusCollectorRegistry(), logger: logger)
        daemon.onHTTPListening = { portContinuation.yield($0) }
        let runningDaemon = daemon
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)))
        do {
            try await client.whileRunning {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // A daemon that fails before it listens ends the wait for its port.
                        defer { portContinuation.finish() }
                        try await runningDaemon.run()
                    }
                    var portIterator = ports.makeAsyncIterator()
                    guard let port = await portIterator.next() else {
                        try await group.waitForAll()
                        throw CommandFailure(message: "the daemon stopped before its HTTP intake listened")
                    }
                    do {
                        try await body(client, http, port)
                    } catch {
                        await runningDaemon.shutdown.trigger()
                        throw error
                    }
                    await runningDaemon.shutdown.trigger()
                    try await group.waitForAll()
                }
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }
}
