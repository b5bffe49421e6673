import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Scheduler
import Testing
import Workers
@testable import evently_jobs

/// The daemon and the SQL `enqueue` function through PgBouncer in transaction mode (Debian's
/// pgbouncer, four server connections shared by the daemon's twelve and the test's clients):
/// nothing may rely on session state across transactions.
@Suite(.timeLimit(.minutes(4))) struct PgBouncerTests {
    /// Without a direct URL the daemon does not LISTEN and still does everything, on its polls.
    @Test func bookingsJobsRetriesSchedulesAndEmailWorkPollOnly() async throws {
        let smtp = try await SMTPTestServer.start()
        defer { smtp.stop() }
        try await DaemonHarness.withPgBouncer(listenDirectly: false, configure: { config in
            config.deliverEmail(to: smtp)
            config.queue.pollInterval = .milliseconds(200)
            config.scheduling.schedules = [Schedule(name: "tick", expression: try! CronExpression("@every 1s"), kind: "diag.noop")]
        }) { intake, server, bouncer in
            try await Self.everyPathWorks(intake, server: server, bouncer: bouncer, smtp: smtp)
            // The tick schedule enqueued through PgBouncer too.
            try await eventually(timeout: .seconds(60), "two scheduler ticks enqueued and run") {
                try await Self.number("SELECT count(*) FROM evently_jobs.schedule_ticks WHERE schedule = 'tick'", server) >= 2
            }
            #expect(try await Self.listening(server) == 0, "poll-only: no LISTEN reached the server")
        }
    }

    /// With `database.listen_url` the daemon LISTENs on the direct connection: a job enqueued
    /// through PgBouncer runs long before the (20 s) poll would have found it.
    @Test func aDirectListenURLWakesTheDaemonAtOnce() async throws {
        let smtp = try await SMTPTestServer.start()
        defer { smtp.stop() }
        try await DaemonHarness.withPgBouncer(listenDirectly: true, configure: { config in
            config.deliverEmail(to: smtp)
            config.queue.pollInterval = .seconds(20)
        }) { intake, server, bouncer in
            try await eventually(timeout: .seconds(30), "the daemon LISTENs on the server") { try await Self.listening(server) >= 1 }
            try await TestDatabase.withClient(configuration: bouncer) { client in
                let id = try await Self.value(Int64.self, "SELECT evently_jobs.enqueue('diag.noop')", client)
                let started = ContinuousClock.now
                try await eventually(timeout: .seconds(30), "the job completed") {
                    try await Self.number("SELECT count(*) FROM evently_jobs.jobs WHERE id = \(id) AND state = 'completed'", server) == 1
                }
                #expect(ContinuousClock.now - started < .seconds(10), "woken by NOTIFY, not the 20 s poll")
            }
            try await Self.everyPathWorks(intake, server: server, bouncer: bouncer, smtp: smtp)
        }
    }

    // MARK: Paths

    /// Booking with an Idempotency-Key (and its replay), the booking's email through SMTP (the
    /// delivery marks), 40 jobs from the SQL `enqueue` function through PgBouncer, a unique key
    /// enqueued twice, and a job that fails once and is retried.
    static func everyPathWorks(_ intake: DaemonHarness, server: PostgresClient, bouncer: PostgresClient.Configuration,
                               smtp: SMTPTestServer) async throws {
        let admin = try await TokenFactory.token(role: "admin")
        let created = try await intake.send("POST", "/v1/events", token: admin, json: """
            {"name": "Bouncer", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": 20, "price": "10.00"}
            """)
        #expect(created.status == 201, "\(created.body)")
        let event = try #require(created.json["id"] as? String)
        let user = try await TokenFactory.token(email: "ann@ok.example")
        let key = UUID().uuidString
        var bookingIDs: [String] = []
        for _ in 0..<2 {
            let booked = try await intake.send("POST", "/v1/bookings", token: user,
                                               json: #"{"event_id": "\#(event)", "quantity": 2}"#, headers: ["Idempotency-Key": key])
            #expect(booked.status == 201 || booked.status == 200, "\(booked.body)")
            bookingIDs.append(try #require(booked.json["id"] as? String))
        }
        #expect(bookingIDs[0] == bookingIDs[1], "the replay answers the same booking")
        // More bookings at once, each with its email: every connection of the daemon runs the
        // delivery statements again and again, across the four server connections.
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<11 {
                group.addTask {
                    let other = try await TokenFactory.token(email: "guest\(index)@ok.example")
                    return try await intake.send("POST", "/v1/bookings", token: other, json: #"{"event_id": "\#(event)", "quantity": 1}"#,
                                                 headers: ["Idempotency-Key": UUID().uuidString]).status
                }
            }
            for try await status in group { #expect(status == 201) }
        }
        #expect(try await number("SELECT count(*) FROM evently.bookings", server) == 12)
        #expect(try await number("SELECT (total_capacity - available_seats)::bigint FROM evently.events", server) == 13)
        try await eventually(timeout: .seconds(60), "every booking's email sent and recorded") {
            try await number("SELECT count(*) FROM evently.notifications WHERE type = 'email' AND status = 'sent'", server) == 12
        }
        #expect(try smtp.messages().count == 12, "each email once")

        try await TestDatabase.withClient(configuration: bouncer) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<40 {
                    group.addTask { _ = try await value(Int64.self, "SELECT evently_jobs.enqueue('diag.noop', '{\"bouncer\": true}')", client) }
                }
                try await group.waitForAll()
            }
            // Long enough to be unfinished still when the second enqueue comes, however loaded the
            // machine (with 1 ms, a daemon once finished it in between and the key was free again).
            let first = try await value(Int64.self, "SELECT evently_jobs.enqueue('diag.sleep', '{\"ms\": 3000}', unique_key => 'once')", client)
            let second = try await value(Int64.self, "SELECT evently_jobs.enqueue('diag.sleep', '{\"ms\": 3000}', unique_key => 'once')", client)
            #expect(first == second, "a held unique key answers the job that holds it")
            _ = try await value(Int64.self, "SELECT evently_jobs.enqueue('diag.fail', '{\"times\": 1}', max_attempts => 3)", client)
        }
        try await eventually(timeout: .seconds(60), "every job completed, the failing one on its second attempt") {
            try await number("""
                SELECT count(*) FROM evently_jobs.jobs
                WHERE state = 'completed' AND (args ? 'bouncer' OR kind = 'diag.sleep' OR (kind = 'diag.fail' AND attempt = 2))
                """, server) == 42
        }
        // A second attempt because every SMTP session was busy (a loaded CI machine) says nothing
        // about the database path; any other error does.
        let repeated = try await number("""
            SELECT count(*) FROM evently_jobs.jobs
            WHERE attempt > 1 AND kind <> 'diag.fail'
              AND NOT errors @> '[{"error": "SMTP connection failed: not started: every session was busy until it was too late to start one"}]'
            """, server)
        let errors = repeated == 0 ? "" : try await jobErrors(server)
        #expect(repeated == 0, "no job needed a second attempt: \(errors)")
    }


    /// The errors of jobs that needed more than one attempt, for a failing test's message.
    static func jobErrors(_ server: PostgresClient) async throws -> String {
        try await value(String.self, """
            SELECT coalesce(string_agg(kind || ': ' || errors::text, '; '), '') FROM evently_jobs.jobs
            WHERE attempt > 1 AND kind <> 'diag.fail'
            """, server)
    }

    /// Server connections to this test's database whose last statement was a LISTEN (the
    /// cluster is shared with other suites' daemons).
    static func listening(_ server: PostgresClient) async throws -> Int64 {
        try await number("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'", server)
    }

    static func number(_ sql: String, _ client: PostgresClient) async throws -> Int64 {
        try await value(Int64.self, sql.contains("count(") ? sql.replacingOccurrences(of: "count(*)", with: "count(*)::bigint") : sql, client)
    }

    static func value<T: PostgresDecodable & Sendable>(_ type: T.Type, _ sql: String, _ client: PostgresClient) async throws -> T {
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).decode(T.self) {
            return value
        }
        throw TestServerError("no row: \(sql)")
    }
}
