import AsyncHTTPClient
import EventlyTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import PostgresNIO
import Queue
import Synchronization
import Testing

/// `database.url` naming two hosts: a primary and its synchronous standby, both real servers. The
/// real daemon, under booking and enqueue load, loses the primary (`pg_ctl stop -m immediate`)
/// and the standby is promoted: the daemon finds it and goes on.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FailoverTests {
    /// How long the SMS provider holds each request: two sends of one message less than this
    /// apart were in flight at once.
    static let providerDelay: Duration = .milliseconds(400)

    @Test func thePromotedStandbyServesWithin15sAndNothingAcknowledgedIsLost() async throws {
        let pair = try await StreamingReplica.start(synchronous: true)
        defer { pair.stop() }
        let provider = try await HTTPTestReceiver.start(responses: [ScriptedResponse(status: 200, delay: Self.providerDelay)])
        defer { Task { await provider.stop() } }
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The standby is named first: the daemon must pick the writable host, not the first.
        let url = "postgres://\(pair.user)@127.0.0.1:\(pair.replicaPort),127.0.0.1:\(pair.primaryPort)/postgres"
            + "?sslmode=disable&target_session_attrs=read-write"
        let config = try ProcessHTTP.writeConfig(in: directory, databaseURL: url, lease: "3s", more: """
            [sms]
            url = "\(provider.url)"
            from = "EVENTLY"
            secret = "failover-signing-secret"
            """)
        let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
        let http = try await ProcessHTTP.waitForIntake(of: daemon)
        #expect(daemon.output.contains("database host 127.0.0.1:\(pair.primaryPort) is writable (timeline 1)"), "\(daemon.output.suffix(2_000))")

        let admin = try await TokenFactory.token(role: "admin")
        // Retried on 503 as a client would: once (in a few runs) the first commit on the fresh
        // synchronous pair missed the intake's 5 s deadline.
        var created = try await http.send(.POST, "/v1/events", token: admin, json: """
            {"name": "Failover", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": 100000, "price": "10.00"}
            """)
        for _ in 0..<3 where created.status == 503 {
            print("event creation answered 503, retrying: \(created.body)\n\(daemon.output.suffix(3_000))")
            created = try await http.send(.POST, "/v1/events", token: admin, json: """
                {"name": "Failover", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": 100000, "price": "10.00"}
                """)
        }
        #expect(created.status == 201, "\(created.body)\n\(daemon.output.suffix(6_000))")
        let eventID = try #require(created.json["id"] as? String)

        // Six clients book (each booking sends an SMS), two enqueue jobs, until told to stop.
        let load = HTTPLoad()
        let bookers = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<6 { group.addTask { try await TokenFactory.token(phone: "+4477009001\(10 + index)") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let running = Task {
            await withTaskGroup(of: Void.self) { group in
                for token in bookers {
                    group.addTask {
                        await load.repeatUntilStopped {
                            let reply = try await http.send(.POST, "/v1/bookings", token: token,
                                                            json: #"{"event_id": "\#(eventID)", "quantity": 1}"#)
                            return (reply, reply.status == 201 ? (reply.json["id"] as? String).map { .booking($0) } : nil)
                        }
                    }
                }
                for _ in 0..<2 {
                    group.addTask {
                        await load.repeatUntilStopped {
                            let reply = try await http.send(.POST, "/v1/jobs", token: admin, json: """
                                {"kind": "diag.sleep", "args": {"ms": 300}, "unique_key": "\(UUID().uuidString)"}
                                """)
                            return (reply, reply.status == 201 ? (reply.json["id"] as? Int).map { .job(Int64($0)) } : nil)
                        }
                    }
                }
            }
        }
        try await eventually(timeout: .seconds(30), "bookings and jobs acknowledged before the failover") {
            let tally = load.tally.withLock { $0 }
            return tally.bookings.count >= 20 && tally.jobs.count >= 10
        }

        try await TestDatabase.withClient(configuration: pair.configuration(port: pair.primaryPort)) { primary async throws in
            #expect(try await Self.number(primary, "SELECT count(*)::bigint FROM pg_stat_replication WHERE sync_state = 'sync'") == 1,
                    "the standby confirms each commit before the primary answers")
        }
        try pair.crashPrimary()
        // A failover manager takes a moment to decide; the daemon meanwhile finds no writable host.
        try await Task.sleep(for: .seconds(2))
        try pair.promoteReplica()
        let promoted = ContinuousClock.now
        let bookingsAtPromotion = load.tally.withLock { $0.bookings.count }
        try await eventually(timeout: .seconds(15), "a booking succeeds within 15 s of the promotion") {
            load.tally.withLock { $0.bookings.count } > bookingsAtPromotion
        }
        let servingAgain = ContinuousClock.now - promoted
        print("serving again \(servingAgain) after the promotion")
        try await Task.sleep(for: .seconds(2))
        load.stop.store(true, ordering: .relaxed)
        await running.value

        let tally = load.tally.withLock { $0 }
        print("statuses through the failover: \(tally.statuses.sorted { $0.key < $1.key })")
        #expect(tally.unexpected.isEmpty, "requests without an answer, or refused: \(tally.unexpected.prefix(5))")
        #expect(Set(tally.statuses.keys).isSubset(of: [201, 503]), "\(tally.statuses)")
        #expect(tally.withoutRetryAfter.isEmpty, "503 without Retry-After: \(tally.withoutRetryAfter.prefix(3))")
        #expect(daemon.output.contains("database host 127.0.0.1:\(pair.replicaPort) is writable"), "the daemon followed the promotion")

        // On the new primary: everything acknowledged (before, during and after) is there, the
        // seats balance, and every job completes.
        try await TestDatabase.withClient(configuration: pair.configuration(port: pair.replicaPort)) { client in
            let bookings = tally.bookings.compactMap(UUID.init(uuidString:))
            #expect(try await Self.number(client, """
                SELECT count(*)::bigint FROM evently.bookings WHERE id = ANY(\(bookings)::uuid[])
                """) == bookings.count, "every acknowledged booking survived the failover")
            #expect(try await Self.number(client, """
                SELECT count(*)::bigint FROM evently_jobs.jobs WHERE id = ANY(\(tally.jobs)::bigint[])
                """) == tally.jobs.count, "every acknowledged job survived the failover")
            #expect(try await Self.number(client, """
                SELECT (e.total_capacity - e.available_seats
                        - (SELECT coalesce(sum(quantity), 0) FROM evently.bookings b WHERE b.event_id = e.id AND b.status = 'confirmed'))::bigint
                FROM evently.events e WHERE e.id = \(UUID(uuidString: eventID))
                """) == 0, "seats taken match the confirmed bookings")
            try await eventually(timeout: .seconds(60), "every acknowledged job completes on the new primary") {
                try await Self.number(client, """
                    SELECT count(*)::bigint FROM evently_jobs.jobs WHERE id = ANY(\(tally.jobs)::bigint[]) AND state = 'completed'
                    """) == tally.jobs.count
            }
        }

        // Never twice at once: no message was at the provider twice within its delay.
        try await eventually(timeout: .seconds(60), "an SMS for every acknowledged booking") {
            Set(provider.requests().compactMap { $0.header("Idempotency-Key") }).count >= tally.bookings.count
        }
        let sends = Dictionary(grouping: provider.requests(), by: { $0.header("Idempotency-Key") ?? "" })
        let overlapping = sends.filter { _, requests in
            zip(requests, requests.dropFirst()).contains { $1.receivedAt - $0.receivedAt < Self.providerDelay }
        }
        #expect(overlapping.isEmpty, "messages sent twice at once: \(overlapping.keys.prefix(3))")

        print(daemon.output.split(separator: "\n").filter { $0.contains("database host") || $0.contains("writable") }
            .prefix(20).joined(separator: "\n"))
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(daemon.output.suffix(3_000))")
    }

    /// The primary made read-only while the daemon works on it (as a failover manager fences an
    /// old primary, or an operator does by hand): the relay notices, closes the connections
    /// that would now fail every write, and follows the standby once it is promoted.
    @Test func aPrimaryTurnedReadOnlyIsLeftForThePromotedStandby() async throws {
        let pair = try await StreamingReplica.start()
        defer { pair.stop() }
        try await Self.primaryLostThenStandbyPromoted(pair: pair, primaryPort: pair.primaryPort,
                                                      leaving: "is read-only (default_transaction_read_only): closing its connections") {
            try await TestDatabase.withClient(configuration: pair.configuration(port: pair.primaryPort)) { primary in
                try await primary.query("ALTER SYSTEM SET default_transaction_read_only = on", logger: TestDatabase.logger)
                _ = try await Self.number(primary, "SELECT pg_reload_conf()::int::bigint")
            }
        } afterRecovery: {}
    }

    /// The network to the primary black-holes traffic (nothing refused, nothing answered): the
    /// relay gives it up after two silent checks, follows the promoted standby, and does not go
    /// back when the network heals and the old (unfenced, still writable) primary answers again.
    @Test func aSilentPrimaryIsLeftAndNotReturnedToWhenItAnswersAgain() async throws {
        let pair = try await StreamingReplica.start()
        defer { pair.stop() }
        let proxy = try await FaultProxy.start(toHost: "127.0.0.1", port: pair.primaryPort)
        defer { Task { await proxy.stop() } }
        try await Self.primaryLostThenStandbyPromoted(pair: pair, primaryPort: proxy.port,
                                                      leaving: "(twice in a row): closing its connections",
                                                      restartAfterRecovery: true) {
            proxy.blackHole()
        } afterRecovery: {
            proxy.heal()
        }
    }

    /// The standby promoted while the old primary stays up and writable (no failover manager
    /// fenced it): within seconds the relay sees the newer timeline and moves there.
    @Test func aStandbyPromotedPastAWritablePrimaryIsFollowed() async throws {
        let pair = try await StreamingReplica.start()
        defer { pair.stop() }
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = "postgres://\(pair.user)@127.0.0.1:\(pair.primaryPort),127.0.0.1:\(pair.replicaPort)/postgres?sslmode=disable"
        let daemon = try DaemonProcess(arguments: ["serve", "--config", try ProcessHTTP.writeConfig(in: directory, databaseURL: url, lease: "3s")],
                                       directory: directory)
        _ = try await ProcessHTTP.waitForIntake(of: daemon)
        try pair.promoteReplica()
        try await eventually(timeout: .seconds(15), "the relay leaves the superseded primary") {
            daemon.output.contains("database host 127.0.0.1:\(pair.replicaPort) is writable on a newer timeline (2) than 127.0.0.1:\(pair.primaryPort) (1)")
        }
        try await eventually(timeout: .seconds(10), "the relay chose the promoted standby") {
            daemon.output.contains("database host 127.0.0.1:\(pair.replicaPort) is writable (timeline 2): new connections go there")
        }
        // The daemon's own writes (its heartbeat) now land on the promoted standby. The standby
        // may have been promoted before the daemon's first heartbeat reached it (asynchronous
        // replication): then there is no row yet, and 0 stands for "none" (a NULL failed to decode).
        let lastHeartbeat: PostgresQuery = "SELECT coalesce((extract(epoch FROM max(heartbeat_at)) * 1000)::bigint, 0) FROM evently_jobs.daemons"
        try await TestDatabase.withClient(configuration: pair.configuration(port: pair.replicaPort)) { promoted async throws in
            let before = try await Self.number(promoted, lastHeartbeat)
            try await eventually(timeout: .seconds(15), "the heartbeat is written on the promoted standby") {
                try await Self.number(promoted, lastHeartbeat) > before
            }
        }
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(daemon.output.suffix(3_000))")
    }

    /// The daemon on `primaryPort` (the primary, or a proxy to it) and the standby; `lose` takes
    /// the primary away, the relay must log `leaving`, then the standby is promoted; once a
    /// booking succeeds `afterRecovery` runs and more bookings follow: all on the promoted
    /// standby (none on the old primary), every answer 201 or 503 with Retry-After. With
    /// `restartAfterRecovery` the daemon is restarted first, so that its relay chooses afresh
    /// between the hosts as they are then.
    static func primaryLostThenStandbyPromoted(pair: StreamingReplica, primaryPort: Int, leaving: String,
                                               restartAfterRecovery: Bool = false,
                                               lose: () async throws -> Void,
                                               afterRecovery: () async throws -> Void) async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = "postgres://\(pair.user)@127.0.0.1:\(primaryPort),127.0.0.1:\(pair.replicaPort)/postgres?sslmode=disable"
        let config = try ProcessHTTP.writeConfig(in: directory, databaseURL: url, lease: "3s")
        var daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
        var http = try await ProcessHTTP.waitForIntake(of: daemon)
        let admin = try await TokenFactory.token(role: "admin")
        let user = try await TokenFactory.token()
        let created = try await http.send(.POST, "/v1/events", token: admin, json: """
            {"name": "Failover", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": 1000, "price": "10.00"}
            """)
        let eventID = try #require(created.json["id"] as? String, "\(created.body)")
        let book = #"{"event_id": "\#(eventID)", "quantity": 1}"#
        #expect(try await http.send(.POST, "/v1/bookings", token: user, json: book).status == 201)

        try await lose()
        try await eventually(timeout: .seconds(15), "the relay leaves the primary") {
            daemon.output.contains("database host 127.0.0.1:\(primaryPort) ") && daemon.output.contains(leaving)
        }
        // Neither host takes writes now: refused with 503 and Retry-After, never a 500.
        let meanwhile = try await http.send(.POST, "/v1/bookings", token: user, json: book)
        #expect(meanwhile.status == 503 && !meanwhile.headers["Retry-After"].isEmpty, "\(meanwhile.status) \(meanwhile.body)")

        try pair.promoteReplica()
        var booked: [UUID] = []
        try await eventually(timeout: .seconds(15), "a booking succeeds within 15 s of the promotion") {
            let reply = try await http.send(.POST, "/v1/bookings", token: user, json: book)
            #expect([201, 503].contains(reply.status), "\(reply.status) \(reply.body)")
            if let id = (reply.json["id"] as? String).flatMap(UUID.init(uuidString:)) { booked.append(id) }
            return reply.status == 201
        }
        #expect(daemon.output.contains("database host 127.0.0.1:\(pair.replicaPort) is writable (timeline 2)"))
        try await afterRecovery()
        if restartAfterRecovery {
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(daemon.output.suffix(3_000))")
            daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
            http = try await ProcessHTTP.waitForIntake(of: daemon)
            // Both hosts are writable now; the promoted one is on the newer timeline.
            #expect(daemon.output.contains("database host 127.0.0.1:\(pair.replicaPort) is writable (timeline 2): new connections go there"),
                    "\(daemon.output.suffix(2_000))")
            #expect(daemon.output.contains("more than one database host is writable"))
        }
        for _ in 0..<5 {
            // Retried on 503 as a client would (a starved CI machine can miss the intake's
            // database deadline); each must end booked.
            var reply = try await http.send(.POST, "/v1/bookings", token: user, json: book)
            for _ in 0..<3 where reply.status == 503 {
                try await Task.sleep(for: .seconds(1))
                reply = try await http.send(.POST, "/v1/bookings", token: user, json: book)
            }
            #expect(reply.status == 201, "\(reply.body)")
            if let id = (reply.json["id"] as? String).flatMap(UUID.init(uuidString:)) { booked.append(id) }
            try await Task.sleep(for: .milliseconds(300))
        }
        // Written on the promoted standby, none on the old primary.
        try await TestDatabase.withClient(configuration: pair.configuration(port: pair.replicaPort)) { promoted async throws in
            #expect(try await number(promoted, "SELECT count(*)::bigint FROM evently.bookings WHERE id = ANY(\(booked)::uuid[])") == Int64(booked.count))
        }
        try await TestDatabase.withClient(configuration: pair.configuration(port: pair.primaryPort)) { old async throws in
            #expect(try await number(old, "SELECT count(*)::bigint FROM evently.bookings WHERE id = ANY(\(booked)::uuid[])") == 0)
        }
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(daemon.output.suffix(3_000))")
    }

    static func number(_ client: PostgresClient, _ query: PostgresQuery) async throws -> Int64 {
        for try await value in try await client.query(query, logger: TestDatabase.logger).decode(Int64.self) { return value }
        return -1
    }
}
