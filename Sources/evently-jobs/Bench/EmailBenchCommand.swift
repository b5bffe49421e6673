import ArgumentParser
import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue
import Workers

/// `evently-jobs bench-email`: email notifications per second delivered by the daemon
/// (`email.send` jobs: read the row, render, SMTP, mark sent) against the bare SMTP sends of the
/// same messages by the same mailer at the same concurrency, interleaved, to an SMTP server the
/// caller runs (e.g. `Tests/TestSupport/smtp_sink.py`).
struct EmailBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-email", abstract: "Measure email.send jobs against bare SMTP sends to the same server.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "SMTP server as host:port (plain SMTP).") var smtp: String
    @Option(help: "Messages per measurement.") var messages = 1_000
    @Option(help: "Concurrent senders (the notifications queue's slots, and the bare senders).") var concurrency = 10
    @Option(help: "Rounds of bare sends then daemon delivery.") var rounds = 3
    @Option(help: "The daemon's slots on the notifications queue (default: --concurrency).") var slots: Int?
    @Option(help: "SMTP sessions at once (smtp.sessions), for both.") var sessions = SMTPSettings().sessions
    @Option(help: "Most messages per session (smtp.messages_per_session), for both.")
    var messagesPerSession = SMTPSettings().messagesPerSession
    @Flag(help: "Also run the daemon with database.prepared_statements off in each round (the setting behind an old PgBouncer).")
    var alsoUnprepared = false

    var daemonSlots: Int { slots ?? concurrency }

    func run() async throws {
        var settings = try Self.benchSMTP(smtp, base: SMTPSettings())
        settings.sessions = sessions
        settings.messagesPerSession = messagesPerSession

        try await options.withDatabase(logLevel: { _ in .warning }) { _, logger, base in
            var clientConfiguration = try await BenchCommand.freshDatabase("evently_bench_email", base: base, logger: logger)
            // Every slot holds a connection while it reads or marks its row; the producer and the
            // completer need theirs beside them.
            clientConfiguration.options.maximumConnections = max(clientConfiguration.options.maximumConnections, daemonSlots + 8)
            let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)

            try await client.whileRunning {
                try await DatabaseSchema.migrator(logger: logger).migrate(client)
                let (user, event) = try await seed(client, logger: logger)
                print("evently-jobs bench-email: \(messages) messages per measurement, \(concurrency) bare senders, \(daemonSlots) daemon slots, "
                      + "\(sessions) SMTP sessions at once of up to \(messagesPerSession) messages, "
                      + "\(ProcessInfo.processInfo.activeProcessorCount) cores")
                var ratios: [Double] = [], unpreparedRatios: [Double] = []
                for round in 1...rounds {
                    let bare = try await bareSends(settings: settings, user: user, event: event)
                    let daemon = try await daemonDelivery(client: client, settings: settings, user: user, event: event, logger: logger)
                    ratios.append(daemon / bare)
                    var line = String(format: "round %d: bare SMTP %.0f msg/s, daemon %.0f msg/s, ratio %.2f", round, bare, daemon, daemon / bare)
                    if alsoUnprepared {
                        let unprepared = try await StatementPreparation.$enabled.withValue(false) {
                            try await daemonDelivery(client: client, settings: settings, user: user, event: event, logger: logger)
                        }
                        unpreparedRatios.append(unprepared / bare)
                        line += String(format: "; unprepared %.0f msg/s, ratio %.2f", unprepared, unprepared / bare)
                    }
                    print(line)
                }
                print(String(format: "daemon ÷ bare SMTP, median of %d rounds: %.2f", rounds, BenchReport.median(ratios)))
                if alsoUnprepared {
                    print(String(format: "unprepared daemon ÷ bare SMTP, median: %.2f", BenchReport.median(unpreparedRatios)))
                }
            }
        }
    }

    /// `base` pointed at the plain SMTP server `address` (`host:port`), as the bench's sender.
    static func benchSMTP(_ address: String, base: SMTPSettings) throws -> SMTPSettings {
        let parts = address.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else {
            throw ValidationError("--smtp takes host:port, e.g. 127.0.0.1:2525")
        }
        var settings = base
        settings.host = String(parts[0])
        settings.port = port
        settings.security = .off
        settings.user = nil
        settings.from = "Evently Bench <bench@evently.example>"
        return settings
    }

    /// One user and one event the notifications are about.
    func seed(_ client: PostgresClient, logger: Logger) async throws -> (User, Event) {
        try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                let admin = try await UserStore(logger: logger).upsert(
                    UserClaims(id: UUID(), email: "admin@evently.example", role: .admin), now: Date(), on: connection)
                let user = try await UserStore(logger: logger).upsert(
                    UserClaims(id: UUID(), email: "reader@evently.example", role: .user), now: Date(), on: connection)
                let event = try await EventStore(logger: logger).create(
                    NewEvent(name: "Benchmark Night", venue: "Hall 1", startsAt: Date().addingTimeInterval(86_400 * 30),
                             capacity: 1_000_000, basePrice: 25),
                    by: admin.id, now: Date(), on: connection)
                return (user, event)
            }
        }
    }

    /// The baseline: the same mailer (so the same sessions and batching) and templates,
    /// `concurrency` senders, no queue, no rows.
    func bareSends(settings: SMTPSettings, user: User, event: Event) async throws -> Double {
        let mailer = SMTPMailer(settings: settings)
        let notification = UserNotification(
            id: UUID(), userID: user.id, type: .email, template: NotificationTemplate.reminder.rawValue,
            content: NotificationRenderer.render(.reminder, NotificationFacts(
                eventName: event.name, venue: event.venue, startsAt: event.startsAt,
                bookingReference: "EVT00000000000000", quantity: 2)).content,
            channels: [.email], status: .queued, eventID: event.id, bookingID: nil, providerMessageID: nil, lastError: nil,
            dedupeKey: nil, createdAt: Date(), sentAt: nil, deliveredAt: nil, failedAt: nil, readAt: nil, skippedAt: nil)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<concurrency {
                let share = messages / concurrency + (sender < messages % concurrency ? 1 : 0)
                group.addTask {
                    for _ in 0..<share {
                        let message = EmailComposer.message(for: notification, from: settings.from, to: user.email,
                                                            messageID: "<\(UUID())@evently.example>", date: Date())
                        try await mailer.send(OutgoingMail(sender: "bench@evently.example", recipient: user.email, message: message))
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(messages) / (ContinuousClock.now - started).timeInterval
    }

    /// The measured path: `messages` queued email rows and their `email.send` jobs, delivered by
    /// an in-process daemon with the real worker catalog; the clock runs from the queue's resume
    /// to the last row marked sent.
    func daemonDelivery(client: PostgresClient, settings: SMTPSettings, user: User, event: Event, logger: Logger) async throws -> Double {
        let queue = JobClient(client: client, logger: logger)
        try await queue.setPaused(true, queue: NotificationDispatch.queue)
        try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                let store = NotificationStore(logger: logger)
                var jobs: [NewJob] = []
                for _ in 0..<messages {
                    let row = try await store.create(
                        userID: user.id, type: .email, template: NotificationTemplate.reminder.rawValue,
                        content: ["event_name": event.name, "venue": event.venue, "starts_at": event.startsAt.formatted(.iso8601),
                                  "booking_reference": "EVT00000000000000", "quantity": "2"],
                        channels: [.email], eventID: event.id, now: Date(), on: connection).notification
                    jobs.append(try NewJob(EmailSendWorker.Payload(notificationID: row.id), options: NotificationDispatch.jobOptions))
                }
                _ = try await JobClient.enqueue(jobs, on: connection, logger: logger)
            }
        }
        var delivery = DeliverySettings()
        delivery.smtp = settings
        let registry = try WorkerCatalog.makeRegistry(client: client, retention: .seconds(86_400), delivery: delivery)
        var configuration = JobDaemon.Configuration()
        configuration.queues = [NotificationDispatch.queue: daemonSlots]
        configuration.pollInterval = .milliseconds(200)
        configuration.workerName = "bench-email"
        let daemon = JobDaemon(client: client, registry: registry, configuration: configuration, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run() }
            defer { group.cancelAll() }
            try await Task.sleep(for: .milliseconds(300))
            let started = ContinuousClock.now
            try await queue.setPaused(false, queue: NotificationDispatch.queue)
            // Whether any is left, not how many: a count every 20 ms cost PostgreSQL ~8 % of the
            // run's statement time (pg_stat_statements), CPU the daemon measured here competes for.
            while true {
                let unsent = try await client.query("""
                    SELECT EXISTS (SELECT 1 FROM evently.notifications WHERE type = 'email' AND status = 'queued')
                    """, logger: logger)
                var left = false
                for try await any in unsent.decode(Bool.self) { left = any }
                if !left { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let rate = Double(messages) / (ContinuousClock.now - started).timeInterval
            let failed = try await client.query(
                "SELECT count(*)::int FROM evently.notifications WHERE type = 'email' AND status <> 'sent'", logger: logger)
            for try await count in failed.decode(Int.self) where count > 0 {
                throw ValidationError("\(count) email(s) were not sent: is the SMTP server at \(smtp) accepting mail?")
            }
            try await client.query("DELETE FROM evently.notifications", logger: logger)
            // Every round writes and deletes its rows: without a vacuum the next round's rows, and
            // the wait above (a scan), met the dead ones, and each round ran slower than the last.
            try await client.query("VACUUM (ANALYZE) evently.notifications", logger: logger)
            try await QueueBenchmark.reset(client: client, logger: logger)
            try await QueueBenchmark.analyze(client: client, logger: logger)
            return rate
        }
    }
}
