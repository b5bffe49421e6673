import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// `database.replica_url`: reads that may be a little behind go to a real streaming replica
/// (`pg_basebackup -R`) while it is current, to the primary while its replay is paused past
/// `replica_max_lag` or it is down, and back when it recovers; a caller's own writes are read
/// on the primary throughout.
@Suite(.timeLimit(.minutes(4))) struct ReplicaReadsTests {
    @Test func readsFollowTheReplicaWhileItIsCurrentAndFallBackToThePrimary() async throws {
        let pair = try await StreamingReplica.start()
        defer { pair.stop() }
        try await TestDatabase.withClient(configuration: pair.configuration(port: pair.primaryPort)) { primary in
        try await TestDatabase.withClient(configuration: pair.configuration(port: pair.replicaPort)) { replica in
            try await DaemonHarness.withDatabase(url: pair.primaryURL, configure: { config in
                config.database.replicaURL = pair.replicaURL
                config.database.replicaMaxLag = .seconds(1)
            }) { intake in
                let admin = try await TokenFactory.token(role: "admin")
                let user = try await TokenFactory.token(email: "ann@ok.example")
                let first = try await Self.createEvent(intake, admin: admin, name: "First")
                try await eventually(timeout: .seconds(30), "reads on the replica") { try await Self.onReplica(intake) }
                try await eventually(timeout: .seconds(30), "the event listed") { try await Self.listed(intake, user).contains(first) }

                // Read there: the replica's own statistics count the scans, and its connections
                // carry the replica pool's application_name.
                let before = try await Self.scans(replica)
                for _ in 0..<3 {
                    #expect(try await intake.send("GET", "/v1/events", token: user).status == 200)
                    #expect(try await intake.send("GET", "/v1/analytics/utilisation", token: admin).status == 200)
                }
                try await eventually(timeout: .seconds(10), "the replica counted the event list's scans") {
                    try await Self.scans(replica) > before
                }
                #expect(try await Self.number("""
                    SELECT count(*)::bigint FROM pg_stat_activity WHERE application_name = '\(ReadTargets.applicationName)'
                    """, replica) >= 1)
                #expect(try await Self.number("""
                    SELECT count(*)::bigint FROM pg_stat_activity WHERE application_name = '\(ReadTargets.applicationName)'
                    """, primary) == 0)

                // Replay paused: the replica falls behind once the primary writes; past the
                // limit reads move to the primary and see what the replica has not.
                _ = try await Self.number("SELECT 1::bigint FROM pg_wal_replay_pause()", replica)
                let second = try await Self.createEvent(intake, admin: admin, name: "Second")
                let booked = try await intake.send("POST", "/v1/bookings", token: user,
                                                   json: #"{"event_id": "\#(second)", "quantity": 1}"#,
                                                   headers: ["Idempotency-Key": UUID().uuidString])
                #expect(booked.status == 201, "\(booked.body)")
                let booking = try #require(booked.json["id"] as? String)
                #expect(try await intake.send("GET", "/v1/bookings/\(booking)", token: user).status == 200,
                        "one's own booking is read on the primary")
                try await eventually(timeout: .seconds(30), "reads moved to the primary") { try await !Self.onReplica(intake) }
                #expect(try await Self.listed(intake, user).contains(second))
                #expect(try await intake.send("GET", "/v1/analytics/utilisation", token: admin).status == 200)

                _ = try await Self.number("SELECT 1::bigint FROM pg_wal_replay_resume()", replica)
                try await eventually(timeout: .seconds(30), "reads back on the replica") { try await Self.onReplica(intake) }
                #expect(try await Self.listed(intake, user).contains(second))

                // Replica down: reads on the primary, no request fails; back when it returns.
                try pair.stopReplica()
                try await eventually(timeout: .seconds(30), "reads moved off the stopped replica") { try await !Self.onReplica(intake) }
                for _ in 0..<3 {
                    #expect(try await intake.send("GET", "/v1/events", token: user).status == 200)
                    #expect(try await intake.send("GET", "/v1/queues", token: admin).status == 200)
                }
                try pair.startReplica()
                try await eventually(timeout: .seconds(60), "reads back on the restarted replica") { try await Self.onReplica(intake) }
                let samples = try await intake.scrape()
                // At least once each: on a machine loaded by every suite at once a check of a
                // running replica can also miss its 2 s deadline, a real (and counted) fallback.
                #expect(try #require(samples.value("evently_replica_fallbacks_total", ["reason": "lag"])) >= 1)
                #expect(try #require(samples.value("evently_replica_fallbacks_total", ["reason": "unreachable"])) >= 1)
            }
        }
        }
    }

    static func onReplica(_ intake: DaemonHarness) async throws -> Bool {
        try await intake.scrape().value("evently_replica_reads") == 1
    }

    static func createEvent(_ intake: DaemonHarness, admin: String, name: String) async throws -> String {
        let reply = try await intake.send("POST", "/v1/events", token: admin, json: """
            {"name": "\(name)", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": 10, "price": "10.00"}
            """)
        #expect(reply.status == 201, "\(reply.body)")
        return try #require(reply.json["id"] as? String)
    }

    static func listed(_ intake: DaemonHarness, _ token: String) async throws -> [String] {
        let reply = try await intake.send("GET", "/v1/events", token: token)
        guard reply.status == 200, let data = reply.body.data(using: .utf8),
              let items = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] else { return [] }
        return items.compactMap { $0["id"] as? String }
    }

    /// Scans of `evently.events` counted by that server.
    static func scans(_ client: PostgresClient) async throws -> Int64 {
        _ = try await number("SELECT 1::bigint FROM pg_stat_clear_snapshot()", client)
        return try await number("""
            SELECT (coalesce(sum(seq_scan), 0) + coalesce(sum(idx_scan), 0))::bigint
            FROM pg_stat_user_tables WHERE schemaname = 'evently' AND relname = 'events'
            """, client)
    }

    static func number(_ sql: String, _ client: PostgresClient) async throws -> Int64 {
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).decode(Int64.self) {
            return value
        }
        return -1
    }
}
