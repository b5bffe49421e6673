import ArgumentParser
import AsyncHTTPClient
import BookingCore
import Foundation
import Hummingbird
import JWTKit
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Prometheus
import Queue
import ServiceLifecycle
import Synchronization
import Workers

/// `evently-jobs bench-e2e`: bookings over HTTP at steady rates, rising step by step, with email
/// (to an SMTP server the caller runs) and SMS (to a webhook receiver this command runs) on.
/// Per step: booking → email accepted and booking → SMS accepted latency, and whether delivery
/// kept up; at the end, the highest steady booking rate whose deliveries kept up.
struct EndToEndBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-e2e",
        abstract: "Book at rising steady rates with email and SMS on; report booking→delivery latency and the highest rate delivery keeps up with.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "SMTP server as host:port (plain SMTP), e.g. Tests/TestSupport/smtp_sink.py.") var smtp: String
    @Option(help: "Booking rates to try, per second, in order (comma-separated).") var rates = "25,50,75,100,125,150,200,300"
    @Option(help: "Seconds of steady booking per rate.") var seconds = 10
    @Option(help: "Concurrent HTTP clients (each books as its own user).") var clients = 32
    @Option(help: "Events the bookings are spread over.") var events = 16
    @Option(help: "A rate keeps up when its last delivery is out within this many seconds of its last booking (a backlog that grows through a step ends later).")
    var keepUp = 1.0
    @Option(help: "Slots of the notifications queue (default: the configuration's).") var notificationSlots: Int?

    static let secret = "bench-e2e-secret-0123456789abcdef012345"

    func validate() throws {
        _ = try EmailBenchCommand.benchSMTP(smtp, base: SMTPSettings())
    }

    func run() async throws {
        let steps = try rates.split(separator: ",").map { text -> Int in
            guard let rate = Int(text.trimmingCharacters(in: .whitespaces)), rate > 0 else {
                throw ValidationError("--rates takes positive whole numbers separated by commas, e.g. 25,50,100")
            }
            return rate
        }

        try await options.withDatabase(logLevel: { _ in .warning }) { config, logger, base in
            var clientConfiguration = try await BenchCommand.freshDatabase("evently_bench_e2e", base: base, logger: logger)
            // Every delivery slot holds a connection while it reads or marks its row.
            clientConfiguration.options.maximumConnections = max(24, config.database.poolSize, (notificationSlots ?? 0) + 16)
            let receiver = SMSReceiver()
            let receiverPorts = AsyncStream.makeStream(of: Int.self)
            let receiverApp = receiver.application(logger: logger) { receiverPorts.continuation.yield($0) }
            let receiverGroup = ServiceGroup(services: [receiverApp], gracefulShutdownSignals: [], logger: logger)

            try await withThrowingTaskGroup(of: Void.self) { outer in
                outer.addTask {
                    defer { receiverPorts.continuation.finish() }
                    try await receiverGroup.run()
                }
                var receiverIterator = receiverPorts.stream.makeAsyncIterator()
                guard let smsPort = await receiverIterator.next() else {
                    try await outer.waitForAll()
                    throw CommandFailure(message: "the SMS receiver stopped before it listened")
                }

                var daemonConfig = BenchDaemon.configuration(config, secret: Self.secret)
                if let notificationSlots { daemonConfig.queue.queues[NotificationDispatch.queue] = notificationSlots }
                daemonConfig.delivery.smtp = try EmailBenchCommand.benchSMTP(smtp, base: config.delivery.smtp)
                daemonConfig.delivery.sms.url = "http://127.0.0.1:\(smsPort)/sms"
                daemonConfig.delivery.sms.secret = "bench-sms-secret"
                daemonConfig.delivery.sms.from = "Evently"
                let settings = daemonConfig
                try await BenchDaemon.running(settings, clientConfiguration: clientConfiguration, connections: clients,
                                              logger: logger) { client, http, port in
                    let setup = try await prepare(client: client, logger: logger)
                    print("evently-jobs bench-e2e: \(clients) HTTP clients, \(events) events, \(seconds) s per rate, "
                          + "notifications queue \(settings.queue.queues[NotificationDispatch.queue] ?? 0) slots, "
                          + "smtp.sessions \(settings.delivery.smtp.sessions) × \(settings.delivery.smtp.messagesPerSession), "
                          + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
                    var results: [StepResult] = []
                    for rate in steps {
                        let result = try await step(rate: rate, http: http, port: port, setup: setup, client: client, logger: logger)
                        results.append(result)
                        print(result.line)
                        if !result.keptUp { break }
                    }
                    print(StepResult.table(results, keepUp: keepUp))
                    let best = results.filter(\.keptUp).map(\.targetRate).max()
                    print(best.map { "highest steady booking rate whose deliveries kept up: \($0) bookings/s" }
                          ?? "no rate tried kept up: try lower --rates")
                }
                await receiverGroup.triggerGracefulShutdown()
                try await outer.waitForAll()
            }
        }
    }

    struct Setup {
        var tokens: [String]
        var events: [UUID]
    }

    /// Users with phone numbers (so every booking is mailed and texted), their tokens, events.
    func prepare(client: PostgresClient, logger: Logger) async throws -> Setup {
        let (users, tokens) = try await BenchDaemon.users(clients, secret: Self.secret, phones: true, client: client, logger: logger)
        var eventIDs: [UUID] = []
        let eventStore = EventStore(logger: logger)
        for index in 0..<events {
            let id = try await client.withOpenConnection { connection in
                try await eventStore.create(NewEvent(name: "Bench night \(index)", venue: "Bench Hall", startsAt: Date().addingTimeInterval(86_400 * 30),
                                                     capacity: 5_000_000, basePrice: 25),
                                            by: users[0], now: Date(), on: connection).id
            }
            eventIDs.append(id)
        }
        return Setup(tokens: tokens, events: eventIDs)
    }

    /// Books at `rate` for `seconds` (booking n is due at start + n / rate; a client late for
    /// its slot books at once, so a rate the intake cannot hold shows as a lower achieved rate),
    /// then waits for the step's deliveries.
    func step(rate: Int, http: HTTPClient, port: Int, setup: Setup, client: PostgresClient, logger: Logger) async throws -> StepResult {
        let total = rate * seconds
        let slots = BookingSlots()
        let stepStarted = Date()
        let started = ContinuousClock.now
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<clients {
                group.addTask {
                    var failed = 0
                    while true {
                        let slot = slots.next.add(1, ordering: .relaxed).oldValue
                        guard slot < total else { return failed }
                        let due = started + .seconds(Double(slot) / Double(rate))
                        if due > ContinuousClock.now { try await Task.sleep(until: due) }
                        let status = try await BenchDaemon.bookOneSeat(http: http, port: port, token: setup.tokens[index],
                                                                       eventID: setup.events[slot % setup.events.count])
                        if status != 201 { failed += 1 }
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let bookingSeconds = (ContinuousClock.now - started).timeInterval
        let lastBooking = ContinuousClock.now

        // Wait for the step's deliveries: at most keep-up, then (not keeping up) a further
        // minute so the next step, if any, starts from an empty queue and the figures are whole.
        var keptUp = false
        var backlog = Double.nan
        let expected = 2 * (total - failures)   // an email and an SMS per booking
        while true {
            let settled = try await settledDeliveries(client: client, since: stepStarted, logger: logger)
            let waited = (ContinuousClock.now - lastBooking).timeInterval
            if settled >= expected {
                backlog = waited
                keptUp = waited <= keepUp
                break
            }
            if waited > keepUp + 60 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let latencies = try await deliveryLatencies(client: client, since: stepStarted, logger: logger)
        return StepResult(targetRate: rate, booked: total - failures, failed: failures,
                          achievedRate: Double(total) / bookingSeconds,
                          email: latencies["email"] ?? .none, sms: latencies["sms"] ?? .none,
                          backlogSeconds: backlog,
                          keptUp: keptUp && failures == 0 && Double(total) / bookingSeconds >= 0.95 * Double(rate))
    }

    /// Email and SMS rows of the bookings made since `since` that are settled (sent, or failed
    /// for good). The rows are written by each booking's `notifications.dispatch` job, so a
    /// booking whose job has not run yet has none: counting the queued rows would miss it.
    func settledDeliveries(client: PostgresClient, since: Date, logger: Logger) async throws -> Int {
        let rows = try await client.query("""
            SELECT count(*)::int
            FROM evently.bookings b JOIN evently.notifications n ON n.booking_id = b.id
            WHERE b.created_at >= \(since) AND n.type IN ('email', 'sms') AND n.status <> 'queued'
            """, logger: logger)
        var count = 0
        for try await value in rows.decode(Int.self) { count = value }
        return count
    }

    struct Latency { var count = 0; var p50 = Double.nan; var p99 = Double.nan; static let none = Latency() }

    /// Booking → accepted by the provider, per channel: from the booking's `created_at` to its
    /// notification row's `sent_at`, stamped when the SMTP server or the SMS provider answered 2xx.
    func deliveryLatencies(client: PostgresClient, since: Date, logger: Logger) async throws -> [String: Latency] {
        let rows = try await client.query("""
            SELECT n.type, count(*)::int,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM n.sent_at - b.created_at))::float8,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM n.sent_at - b.created_at))::float8
            FROM evently.bookings b JOIN evently.notifications n ON n.booking_id = b.id
            WHERE b.created_at >= \(since) AND n.type IN ('email', 'sms') AND n.sent_at IS NOT NULL
            GROUP BY n.type
            """, logger: logger)
        var result: [String: Latency] = [:]
        for try await (type, count, p50, p99) in rows.decode((String, Int, Double?, Double?).self) {
            result[type] = Latency(count: count, p50: (p50 ?? .nan) * 1000, p99: (p99 ?? .nan) * 1000)
        }
        return result
    }

    struct StepResult {
        var targetRate: Int
        var booked: Int
        var failed: Int
        var achievedRate: Double
        var email: Latency
        var sms: Latency
        var backlogSeconds: Double
        var keptUp: Bool

        var line: String {
            String(format: "rate %d/s: booked %d (%d refused) at %.0f/s; email %d, p50 %.0f ms, p99 %.0f ms; SMS %d, p50 %.0f ms, p99 %.0f ms; "
                   + "last delivery %.1f s after the last booking: %@",
                   targetRate, booked, failed, achievedRate, email.count, email.p50, email.p99, sms.count, sms.p50, sms.p99,
                   backlogSeconds, keptUp ? "kept up" : "did not keep up")
        }

        static func table(_ results: [StepResult], keepUp: Double) -> String {
            var lines = ["", "| booking rate (target / achieved) | booked | booking → email accepted p50 / p99 | booking → SMS accepted p50 / p99 | last delivery after last booking | kept up (≤ \(String(format: "%.0f", keepUp)) s) |",
                         "|---|---|---|---|---|---|"]
            for result in results {
                lines.append(String(format: "| %d / %.0f | %d | %.0f / %.0f ms | %.0f / %.0f ms | %.1f s | %@ |",
                                    result.targetRate, result.achievedRate, result.booked, result.email.p50, result.email.p99,
                                    result.sms.p50, result.sms.p99, result.backlogSeconds, result.keptUp ? "yes" : "no"))
            }
            return lines.joined(separator: "\n")
        }
    }
}

/// Hands out booking n = 0, 1, 2, … to whichever client is free.
final class BookingSlots: Sendable {
    let next = Atomic<Int>(0)
}

/// The SMS provider for the bench: answers every POST with 200 and a message id, as a provider
/// that accepted the message would. (A boundary we do not own, spoken in real HTTP.)
struct SMSReceiver: Sendable {
    func application(logger: Logger, onPort: @escaping @Sendable (Int) -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.post("/sms") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: #"{"sid": "SM\#(UUID().uuidString.lowercased())"}"#)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                           onServerRunning: { channel in onPort(channel.localAddress?.port ?? 0) }, logger: logger)
    }
}
