import AsyncHTTPClient
import EventlyTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Queue
import Synchronization
@testable import evently_jobs
import Testing

/// The real daemon against a database that goes away under it: a private cluster (not the
/// shared test cluster, which other suites use meanwhile) restarted with
/// `pg_ctl restart -m immediate` while clients book over HTTP.
@Suite(.serialized, .timeLimit(.minutes(5))) struct DatabaseOutageTests {
    let logger = TestDatabase.logger

    /// Runs `pg_ctl` on `cluster` as the user that owns its files.
    func pgCtl(_ cluster: EmbeddedPostgres, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let candidates = ((ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map { "\($0)/pg_ctl" })
            + ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).sorted().reversed()
                .map { "/usr/lib/postgresql/\($0)/bin/pg_ctl" }
        let pgCtl = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, "pg_ctl not found")
        let command = [pgCtl] + arguments + ["-D", cluster.dataDirectory.path]
        return try await ChildProcess.run(geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + command : command)
    }

    /// A cluster of the test's own in a fresh folder (remove both when done).
    func startPrivateCluster() async throws -> (directory: URL, cluster: EmbeddedPostgres) {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let cluster = EmbeddedPostgres(directory: directory.appendingPathComponent("pg"), settings: ["fsync": "off"], logger: logger)
        try await cluster.start()
        return (directory, cluster)
    }

    func url(of cluster: EmbeddedPostgres) -> String {
        "postgres://\(cluster.username)@localhost/postgres?host=\(cluster.socketDirectory.path)"
    }

    @Test(.timeLimit(.minutes(3)))
    func restartUnderBookingLoadAnswersOnly201Or503AndSigtermStillStops() async throws {
        let (directory, cluster) = try await startPrivateCluster()
        defer {
            try? cluster.stop()
            try? FileManager.default.removeItem(at: directory)
        }
        let config = try ProcessHTTP.writeConfig(in: directory, databaseURL: url(of: cluster), lease: "2s")
        let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
        let http = try await ProcessHTTP.waitForIntake(of: daemon)

        let admin = try await TokenFactory.token(role: "admin")
        let created = try await http.send(.POST, "/v1/events", token: admin, json: """
            {"name": "Outage", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": 100000, "price": "10.00"}
            """)
        #expect(created.status == 201, "\(created.body)")
        let eventID = try #require((try JSONSerialization.jsonObject(with: Data(created.body.utf8)) as? [String: Any])?["id"] as? String)

        // Eight clients book one seat at a time until told to stop.
        let state = HTTPLoad()
        let tokens = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { try await TokenFactory.token() } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for token in tokens {
                    group.addTask {
                        await state.repeatUntilStopped {
                            let reply = try await http.send(.POST, "/v1/bookings", token: token,
                                                            json: #"{"event_id": "\#(eventID)", "quantity": 1}"#)
                            return (reply, reply.status == 201 ? (reply.json["id"] as? String).map { .booking($0) } : nil)
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let restart = try await pgCtl(cluster, ["restart", "-m", "immediate", "-w", "-t", "60"])
        #expect(restart.status == 0, "\(restart.output)")
        let restarted = ContinuousClock.now
        // Ready again within 10 s of the server's return.
        try await eventually(timeout: .seconds(10), "/readyz answers 200 after the restart") {
            (try? await http.send(.GET, "/readyz", timeout: .seconds(2)).status) == 200
        }
        print("ready \(ContinuousClock.now - restarted) after the restart")
        try await Task.sleep(for: .seconds(2))
        state.stop.store(true, ordering: .relaxed)
        await load.value

        let result = state.tally.withLock { $0 }
        print("statuses during the restart: \(result.statuses.sorted { $0.key < $1.key })")
        #expect(result.unexpected.isEmpty, "requests without an answer within 10 s, or refused: \(result.unexpected.prefix(5))")
        #expect(Set(result.statuses.keys).isSubset(of: [201, 503]), "\(result.statuses)")
        #expect((result.statuses[201] ?? 0) > 0)

        // Nothing lost: every 201 is a booking, and the seats balance.
        try await TestDatabase.withClient(configuration: cluster.clientConfiguration(database: "postgres")) { client in
            let rows = try await client.query("""
                SELECT count(*)::bigint FROM evently.bookings WHERE id = ANY(\(result.bookings.compactMap(UUID.init(uuidString:)))::uuid[])
                """, logger: logger)
            var present = 0
            for try await count in rows.decode(Int.self) { present = count }
            #expect(present == result.bookings.count)
            let balance = try await client.query("""
                SELECT e.total_capacity - e.available_seats,
                       (SELECT coalesce(sum(quantity), 0)::int FROM evently.bookings b WHERE b.event_id = e.id AND b.status = 'confirmed')
                FROM evently.events e WHERE e.id = \(UUID(uuidString: eventID))
                """, logger: logger)
            for try await (taken, booked) in balance.decode((Int, Int).self) {
                #expect(taken == booked, "seats taken \(taken), seats in confirmed bookings \(booked)")
            }
        }

        let stopping = ContinuousClock.now
        daemon.signal(SIGTERM)
        let exit = await daemon.waitForExit(timeout: .seconds(8))
        let notable = daemon.output.split(separator: "\n").filter { !$0.contains("notification skipped") }.suffix(40)
        #expect(exit == 0, "exit \(String(describing: exit)) \(ContinuousClock.now - stopping) after SIGTERM; output:\n\(notable.joined(separator: "\n"))")
    }

    /// SIGTERM while PostgreSQL is down, with jobs that finished and could not report: the
    /// daemon still exits, within the shutdown timeout plus the completer's give-up time, and
    /// says what it could not write.
    /// The network between the daemon and PostgreSQL black-holes traffic (nothing closes; a
    /// query would wait minutes for TCP to give up): every request is answered 503
    /// `database_timeout` with Retry-After within `http.database_timeout`, and once the network
    /// returns, a booking retried with its Idempotency-Key books once.
    @Test(.timeLimit(.minutes(2)))
    func aPartitionFromTheDatabaseAnswers503InTimeAndTheRetryBooksOnce() async throws {
        try await DaemonHarness.withTokens({ $0.intake.databaseTimeout = .seconds(2) }, proxied: true) { intake in
            let proxy = try #require(intake.proxy)
            let admin = try await TokenFactory.token(role: "admin")
            let user = try await TokenFactory.token()
            // Retried on 503 as a client would: on a loaded machine (a CI run with every suite at
            // once) even this, before any fault, once missed the 2 s deadline. A create that did
            // take effect leaves a second event nobody books.
            var created = HTTPReply(status: 0, headers: [:], body: "")
            for _ in 0..<10 {
                created = try await intake.send("POST", "/v1/events", token: admin, json: """
                    {"name": "Partition", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": 10, "price": "5.00"}
                    """)
                guard created.status == 503 else { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            let event = try #require(created.json["id"] as? String, "\(created.body)")
            let bookBody = #"{"event_id": "\#(event)", "quantity": 2}"#
            // One booking before the partition (retried as a client would if a busy machine
            // makes it miss the short deadline).
            let warmKey = UUID().uuidString
            var warm = HTTPReply(status: 0, headers: [:], body: "")
            for _ in 0..<10 {
                warm = try await intake.send("POST", "/v1/bookings", token: user, json: #"{"event_id": "\#(event)", "quantity": 1}"#,
                                             headers: ["Idempotency-Key": warmKey])
                guard warm.status == 503 || warm.errorCode == "idempotency_key_in_flight" else { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(warm.status == 201 || warm.status == 200, "\(warm.body)")

            proxy.blackHole()
            let key = UUID().uuidString
            let requests: [(method: String, path: String, token: String, json: String?, headers: [String: String])] = [
                ("POST", "/v1/bookings", user, bookBody, ["Idempotency-Key": key]),
                ("GET", "/v1/events/\(event)", admin, nil, [:]),
                ("GET", "/v1/bookings", user, nil, [:]),
                ("POST", "/v1/jobs", admin, #"{"kind": "diag.noop", "args": {}}"#, [:]),
                ("GET", "/v1/queues", admin, nil, [:]),
                ("GET", "/v1/jobs/1", admin, nil, [:]),
            ]
            let replies = try await withThrowingTaskGroup(of: (String, HTTPReply, Duration).self) { group in
                for request in requests {
                    group.addTask {
                        let start = ContinuousClock.now
                        let reply = try await intake.send(request.method, request.path, token: request.token, json: request.json,
                                                          headers: request.headers)
                        return ("\(request.method) \(request.path)", reply, ContinuousClock.now - start)
                    }
                }
                return try await group.reduce(into: [(String, HTTPReply, Duration)]()) { $0.append($1) }
            }
            for (request, reply, took) in replies {
                #expect(reply.status == 503 && reply.errorCode == "database_timeout", "\(request): \(reply.status) \(reply.body)")
                #expect(reply.headers["retry-after"] != nil, "\(request)")
                #expect(took < .seconds(6), "\(request) answered after \(took)")
            }
            let ready = try await intake.get("/readyz")
            #expect(ready.status == 503, "readiness during the partition: \(ready.body)")

            proxy.heal()
            var retried = HTTPReply(status: 0, headers: [:], body: "")
            // The abandoned first try finishes once the network is back; until then the key is
            // busy (409) or the database slow (503): both say retry.
            for _ in 0..<40 {
                retried = try await intake.send("POST", "/v1/bookings", token: user, json: bookBody, headers: ["Idempotency-Key": key])
                guard retried.status == 503 || retried.errorCode == "idempotency_key_in_flight" else { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            #expect(retried.status == 201 || retried.status == 200, "\(retried.body)")
            let shown = try await intake.send("GET", "/v1/events/\(event)", token: admin)
            #expect(shown.json["available_seats"] as? Int == 10 - 1 - 2, "the retried booking took its seats once: \(shown.body)")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func sigtermWhileTheDatabaseIsDownStillStopsAndSaysWhatWasNotWritten() async throws {
        let (directory, cluster) = try await startPrivateCluster()
        defer {
            try? cluster.stop()
            try? FileManager.default.removeItem(at: directory)
        }
        let config = directory.appendingPathComponent("jobs.conf").path
        try """
            [database]
            url = "\(url(of: cluster))"
            pool_size = 4
            [http]
            enabled = false
            [queue]
            lease = 60s
            poll_interval = 200ms
            shutdown_timeout = 2s
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
        try await TestDatabase.withClient(configuration: cluster.clientConfiguration(database: "postgres")) { client in
            try await eventually(timeout: .seconds(60), "the daemon migrated the database") {
                (try? await client.query("SELECT 1 FROM evently_jobs.daemons", logger: logger)) != nil
            }
            try await JobClient(client: client, logger: logger)
                .enqueue((0..<5).map { _ in try NewJob(DiagnosticWorkers.Sleep.Payload(ms: 4_000)) })
            try await eventually("5 jobs run") {
                let rows = try await client.query("SELECT count(*)::int FROM evently_jobs.jobs WHERE state = 'running'", logger: logger)
                for try await count in rows.decode(Int.self) { return count == 5 }
                return false
            }
        }
        let stopped = try await pgCtl(cluster, ["stop", "-m", "immediate", "-w"])
        #expect(stopped.status == 0, "\(stopped.output)")
        // The jobs finish (their lease, 60 s, outlasts the test); their outcomes cannot be written.
        try await Task.sleep(for: .milliseconds(4_500))
        let terminated = ContinuousClock.now
        daemon.signal(SIGTERM)
        // shutdown_timeout 2 s + the completer's 10 s give-up + margin
        let exit = await daemon.waitForExit(timeout: .seconds(17))
        let notable = daemon.output.split(separator: "\n").filter { !$0.contains("Connection creation failed") && !$0.contains("LISTEN connection lost") && !$0.contains("maintenance failed") }.suffix(40)
        #expect(exit != nil, "still running \(ContinuousClock.now - terminated) after SIGTERM:\n\(notable.joined(separator: "\n"))")
        #expect(daemon.output.contains("unwritten") || daemon.output.contains("gave up writing"),
                "it says what it could not write:\n\(notable.joined(separator: "\n"))")
        print("exit \(String(describing: exit)) \(ContinuousClock.now - terminated) after SIGTERM")
    }
}
