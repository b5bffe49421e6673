import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Scheduler
import Testing
import Workers
@testable import evently_jobs

/// Every series family of `/metrics`, each scraped after real work over HTTP against a real
/// daemon, with its labels, its values and the bounds on its label values.
@Suite(.serialized, .timeLimit(.minutes(5))) struct MetricsTests {
    static func unlimited(_ config: inout JobsConfig) {
        config.intake.rateLimitPerUser = 0
        config.intake.rateLimitPerAddress = 0
    }

    // MARK: HTTP

    @Test func httpRequestsAreCountedByRouteTemplateMethodAndStatus() async throws {
        try await DaemonHarness.withTokens(Self.unlimited) { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            let created = try await intake.send("POST", "/v1/jobs", token: operatorToken, json: #"{"kind": "diag.noop", "queue": "nowhere"}"#)
            #expect(created.status == 201, "\(created.body)")
            let id = try #require(created.json["id"] as? Int)
            // Fifty paths of one route: one found, forty-nine not.
            #expect(try await intake.send("GET", "/v1/jobs/\(id)", token: operatorToken).status == 200)
            for offset in 1...49 {
                #expect(try await intake.send("GET", "/v1/jobs/\(id + 1_000 + offset)", token: operatorToken).status == 404)
            }
            // Fifty paths no route takes, a refusal before the handler, an unusual method.
            for index in 0..<50 {
                #expect(try await intake.send("GET", "/v1/no-such-thing/\(index)").status == 404)
            }
            #expect(try await intake.send("GET", "/v1/queues").status == 401)
            #expect(try await intake.send("PURGE", "/v1/jobs", token: operatorToken).status == 404)

            let samples = try await intake.scrape()
            let requests = "evently_http_requests_total"
            #expect(samples.value(requests, ["route": "/v1/jobs", "method": "POST", "status": "201"]) == 1)
            #expect(samples.value(requests, ["route": "/v1/jobs/{id}", "method": "GET", "status": "200"]) == 1)
            #expect(samples.value(requests, ["route": "/v1/jobs/{id}", "method": "GET", "status": "404"]) == 49)
            #expect(samples.value(requests, ["route": "unmatched", "method": "GET", "status": "404"]) == 50)
            #expect(samples.value(requests, ["route": "/v1/queues", "method": "GET", "status": "401"]) == 1)
            #expect(samples.value(requests, ["route": "unmatched", "method": "other", "status": "404"]) == 1)
            // A hundred raw paths, three route labels: templates, never paths.
            let routes = Set(samples.named(requests).compactMap { $0.labels["route"] })
            #expect(routes == ["/v1/jobs", "/v1/jobs/{id}", "/v1/queues", "unmatched"], "\(routes)")
            #expect(Set(samples.named(requests).map { Set($0.labels.keys) }) == [["route", "method", "status"]])

            let duration = "evently_http_request_duration_seconds"
            #expect(samples.value(duration + "_count", ["route": "/v1/jobs/{id}", "method": "GET"]) == 50)
            #expect(samples.value(duration + "_bucket", ["route": "/v1/jobs/{id}", "method": "GET", "le": "+Inf"]) == 50)
            #expect((samples.value(duration + "_sum", ["route": "/v1/jobs/{id}", "method": "GET"]) ?? 0) > 0)
            #expect(samples.value(duration + "_count", ["route": "unmatched", "method": "GET"]) == 50)
            #expect(!samples.named(duration + "_count").contains { $0.labels["status"] != nil }, "the histogram has no status label")

            // The scrape itself is counted, on its own route.
            let again = try await intake.scrape()
            #expect(again.value(requests, ["route": "/metrics", "method": "GET", "status": "200"]) == 1)
        }
    }

    // MARK: Bookings

    @Test func bookingsAreCountedByOutcome() async throws {
        try await DaemonHarness.withTokens(Self.unlimited) { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let small = try await createEvent(intake, admin: admin, capacity: 2)
            let user = try await TokenFactory.token()
            let key = UUID().uuidString
            #expect(try await book(intake, token: user, event: small, quantity: 2, key: key).status == 201)
            let replay = try await book(intake, token: user, event: small, quantity: 2, key: key)
            #expect(replay.status == 201 && replay.headers["idempotent-replayed"] == "true", "\(replay.headers)")
            let soldOut = try await book(intake, token: try await TokenFactory.token(), event: small, quantity: 1)
            #expect(soldOut.status == 409 && soldOut.errorCode == "sold_out", "\(soldOut.body)")
            // Not booking outcomes: a bad request, no token.
            #expect(try await book(intake, token: user, event: small, quantity: 0).status == 400)
            #expect(try await book(intake, token: nil, event: small, quantity: 1).status == 401)

            // The event's row held by another transaction past the 2 s lock_timeout: shed.
            let busy = try await createEvent(intake, admin: admin, capacity: 10)
            let shed = try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
                try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: TestDatabase.logger)
                    try await connection.query("SELECT 1 FROM evently.events WHERE id = \(UUID(uuidString: busy)!) FOR UPDATE",
                                               logger: TestDatabase.logger)
                    let reply = try await book(intake, token: try await TokenFactory.token(), event: busy, quantity: 1)
                    try await connection.query("ROLLBACK", logger: TestDatabase.logger)
                    return reply
                }
            }
            #expect(shed.status == 503 && shed.errorCode == "busy" && shed.headers["retry-after"] != nil, "\(shed.status) \(shed.body)")

            let samples = try await intake.scrape()
            let bookings = "evently_bookings_total"
            #expect(samples.value(bookings, ["outcome": "confirmed"]) == 1)
            #expect(samples.value(bookings, ["outcome": "replayed"]) == 1)
            #expect(samples.value(bookings, ["outcome": "sold_out"]) == 1)
            #expect(samples.value(bookings, ["outcome": "shed"]) == 1)
            #expect(Set(samples.named(bookings).compactMap { $0.labels["outcome"] }) == ["confirmed", "replayed", "sold_out", "shed"])
            #expect(samples.value("evently_http_requests_total", ["route": "/v1/bookings", "method": "POST", "status": "503"]) == 1)
        }
    }

    // MARK: Queue

    /// Depth and oldest available age per queue (other queues folded into `other`), rescues,
    /// live daemons from the heartbeat table, jobs finished.
    @Test func queueGaugesRescuesAndLiveDaemons() async throws {
        try await DaemonHarness.withTokens({ config in
            Self.unlimited(&config)
            config.queue.metricsInterval = .seconds(1)
            config.queue.rescueInterval = .milliseconds(500)
        }) { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            let finished = try await enqueue(intake, operatorToken, #"{"kind": "diag.noop"}"#)
            try await eventually("the job to complete") {
                try await intake.send("GET", "/v1/jobs/\(finished)", token: operatorToken).json["state"] as? String == "completed"
            }
            #expect(try await intake.send("POST", "/v1/queues/default/pause", token: operatorToken).status == 200)
            for _ in 0..<2 { _ = try await enqueue(intake, operatorToken, #"{"kind": "diag.noop"}"#) }
            for index in 0..<10 { _ = try await enqueue(intake, operatorToken, #"{"kind": "diag.noop", "queue": "elsewhere-\#(index)"}"#) }
            let stranded = try await enqueue(intake, operatorToken, #"{"kind": "diag.noop", "queue": "stranded"}"#)
            try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
                // A job whose daemon died holding it, and two other daemons: one live, one gone.
                try await client.query("""
                    UPDATE evently_jobs.jobs SET state = 'running', attempt = 1, attempted_at = now() - interval '2 minutes',
                        attempted_by = 'ghost:1', lease_expires_at = now() - interval '1 minute'
                    WHERE id = \(Int64(stranded))
                    """, logger: TestDatabase.logger)
                try await client.query("""
                    INSERT INTO evently_jobs.daemons (name, host, pid, version, expires_at, heartbeat_at)
                    VALUES ('live:2', 'live', 2, 'test', now() + interval '1 hour', now()),
                           ('gone:3', 'gone', 3, 'test', now() - interval '1 minute', now() - interval '2 minutes')
                    """, logger: TestDatabase.logger)
            }

            var samples: [MetricSample] = []
            try await eventually(timeout: .seconds(60), "the gauges to be refreshed") {
                samples = try await intake.scrape()
                return samples.value("evently_jobs_rescued_total") == 1
                    && samples.value("evently_jobs_depth", ["queue": "default", "state": "available"]) == 2
                    && samples.value("evently_jobs_depth", ["queue": "other", "state": "retryable"]) == 1
                    && (samples.value("evently_jobs_oldest_available_age_seconds", ["queue": "default"]) ?? 0) >= 1
                    && samples.value("evently_jobs_live_daemons") == 2
            }
            #expect(samples.value("evently_jobs_depth", ["queue": "other", "state": "available"]) == 10)
            #expect(samples.value("evently_jobs_depth", ["queue": "default", "state": "running"]) == 0)
            #expect((samples.value("evently_jobs_oldest_available_age_seconds", ["queue": "other"]) ?? 0) >= 1)
            // Thirteen queue names in the table, two label values.
            for family in ["evently_jobs_depth", "evently_jobs_oldest_available_age_seconds"] {
                let queues = Set(samples.named(family).compactMap { $0.labels["queue"] })
                #expect(queues.isSubset(of: Set(intake.configuredQueues + ["other"])) && queues.contains("other"), "\(family): \(queues)")
            }
            #expect(samples.value("evently_jobs_finished_total", ["kind": "diag.noop", "outcome": "completed"]) == 1)
            #expect(samples.value("evently_jobs_duration_seconds_count", ["kind": "diag.noop"]) == 1)
            #expect((samples.value("evently_jobs_claimed_total") ?? 0) >= 1)
            #expect(samples.value("evently_jobs_completer_backlog") == 0)
            let shown = try await intake.send("GET", "/v1/jobs/\(stranded)", token: operatorToken)
            #expect(shown.json["state"] as? String == "retryable", "\(shown.body)")
        }
    }

    /// Connections to the daemon's database as the server sees them, by state: the sampling
    /// statement itself is active, the pool's other connections idle; a transaction held open by
    /// a client of the same user and `application_name` (none, as the pool's) shows as idle in
    /// transaction, one of another `application_name` is not counted.
    @Test func databaseConnectionsAreCountedByState() async throws {
        try await DaemonHarness.withTokens({ config in
            Self.unlimited(&config)
            config.queue.metricsInterval = .milliseconds(500)
        }) { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            let id = try await enqueue(intake, operatorToken, #"{"kind": "diag.noop"}"#)
            try await eventually("the job to complete") {
                try await intake.send("GET", "/v1/jobs/\(id)", token: operatorToken).json["state"] as? String == "completed"
            }
            let family = "evently_db_connections"
            var samples: [MetricSample] = []
            try await eventually(timeout: .seconds(60), "the connection gauges") {
                samples = try await intake.scrape()
                return (samples.value(family, ["state": "active"]) ?? 0) >= 1 && (samples.value(family, ["state": "idle"]) ?? 0) >= 1
            }
            #expect(Set(samples.named(family).compactMap { $0.labels["state"] }) == ["active", "idle", "idle_in_transaction"])
            #expect(Set(samples.named(family).map { Set($0.labels.keys) }) == [["state"]])
            // The pool and the LISTEN connection, no more.
            let total = samples.named(family).map(\.value).reduce(0, +)
            #expect(total <= Double(intake.cluster.clientConfiguration().options.maximumConnections + 1), "\(total)")

            var elsewhere = intake.cluster.clientConfiguration()
            elsewhere.options.additionalStartupParameters = [("application_name", "metrics-test-elsewhere")]
            let logger = TestDatabase.logger
            try await TestDatabase.withClient(configuration: elsewhere) { other in
                try await other.withConnection { foreign in
                    try await foreign.query("BEGIN", logger: logger)
                    try await foreign.query("SELECT 1", logger: logger)
                    try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { same in
                        try await same.withConnection { held in
                            try await held.query("BEGIN", logger: logger)
                            try await held.query("SELECT 1", logger: logger)
                            try await eventually(timeout: .seconds(60), "one transaction idle in the gauge") {
                                try await intake.scrape().value(family, ["state": "idle_in_transaction"]) == 1
                            }
                            try await held.query("ROLLBACK", logger: logger)
                        }
                    }
                    try await eventually(timeout: .seconds(60), "no transaction idle in the gauge") {
                        try await intake.scrape().value(family, ["state": "idle_in_transaction"]) == 0
                    }
                    try await foreign.query("ROLLBACK", logger: logger)
                }
            }
        }
    }

    /// Outcomes that cannot be written (the database partitioned away) wait in the completer.
    @Test func theCompleterBacklogCountsOutcomesNotYetWritten() async throws {
        try await DaemonHarness.withTokens(Self.unlimited, proxied: true) { intake in
            let proxy = try #require(intake.proxy)
            let operatorToken = try await TokenFactory.token(role: "operator")
            // Enqueued into a paused queue, so that one claim takes all three at once.
            #expect(try await intake.send("POST", "/v1/queues/default/pause", token: operatorToken).status == 200)
            var ids: [Int] = []
            for _ in 0..<3 { ids.append(try await enqueue(intake, operatorToken, #"{"kind": "diag.sleep", "args": {"ms": 5000}}"#)) }
            #expect(try await intake.send("POST", "/v1/queues/default/resume", token: operatorToken).status == 200)
            try await eventually(timeout: .seconds(60), "the jobs to run") {
                var running = 0
                for id in ids where try await intake.send("GET", "/v1/jobs/\(id)", token: operatorToken).json["state"] as? String == "running" {
                    running += 1
                }
                return running == ids.count
            }
            proxy.blackHole()
            try await eventually(timeout: .seconds(60), "three outcomes waiting") {
                try await intake.scrape().value("evently_jobs_completer_backlog") == 3
            }
            proxy.heal()
            try await eventually(timeout: .seconds(90), "the outcomes to be written") {
                try await intake.scrape().value("evently_jobs_completer_backlog") == 0
            }
            for id in ids {
                #expect(try await intake.send("GET", "/v1/jobs/\(id)", token: operatorToken).json["state"] as? String == "completed")
            }
            #expect(try await intake.scrape().value("evently_jobs_finished_total", ["kind": "diag.sleep", "outcome": "completed"]) == 3)
        }
    }

    // MARK: Scheduler

    /// Ticks this daemon enqueued, and ticks another daemon had taken first.
    @Test func schedulerTicksAreCountedEnqueuedOrSkipped() async throws {
        try await DaemonHarness.withTokens({ config in
            Self.unlimited(&config)
            let everySecond = try? CronExpression("@every 1s")
            config.scheduling.schedules = everySecond.map {
                [Schedule(name: "tick-noop", expression: $0, kind: "diag.noop"),
                 Schedule(name: "taken-elsewhere", expression: $0, kind: "diag.noop")]
            } ?? []
        }) { intake in
            let ticks = "evently_scheduler_ticks_total"
            // Once this daemon has dealt with a tick of each schedule, it resumes from memory, not
            // from the table: then another daemon records the ticks of `taken-elsewhere` from
            // 2 s to a minute ahead.
            try await eventually(timeout: .seconds(60), "a first tick of each schedule") {
                let samples = try await intake.scrape()
                return (samples.value(ticks, ["schedule": "taken-elsewhere", "result": "enqueued"]) ?? 0) >= 1
            }
            _ = try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
                try await client.query("""
                    INSERT INTO evently_jobs.schedule_ticks (schedule, tick, enqueued_by)
                    SELECT 'taken-elsewhere', to_timestamp(floor(extract(epoch FROM now())) + s), 'another-daemon'
                    FROM generate_series(2, 60) AS s
                    ON CONFLICT DO NOTHING
                    """, logger: TestDatabase.logger)
            }
            var samples: [MetricSample] = []
            try await eventually(timeout: .seconds(60), "ticks enqueued and skipped") {
                samples = try await intake.scrape()
                return (samples.value(ticks, ["schedule": "tick-noop", "result": "enqueued"]) ?? 0) >= 3
                    && (samples.value(ticks, ["schedule": "taken-elsewhere", "result": "skipped"]) ?? 0) >= 3
            }
            #expect(Set(samples.named(ticks).compactMap { $0.labels["schedule"] }) == ["tick-noop", "taken-elsewhere"])
            #expect(Set(samples.named(ticks).compactMap { $0.labels["result"] }) == ["enqueued", "skipped"])
            // What the counters say this daemon enqueued is what the table says it did.
            let enqueuedHere = try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
                let rows = try await client.query("""
                    SELECT count(*)::bigint FROM evently_jobs.schedule_ticks
                    WHERE schedule = 'taken-elsewhere' AND enqueued_by <> 'another-daemon'
                    """, logger: TestDatabase.logger)
                for try await count in rows.decode(Int.self) { return count }
                return -1
            }
            let after = try await intake.scrape()
            #expect(after.value(ticks, ["schedule": "taken-elsewhere", "result": "enqueued"]) == Double(enqueuedHere))
            #expect((after.value(ticks, ["schedule": "tick-noop", "result": "skipped"]) ?? -1) >= 0)
        }
    }

    // MARK: Deliveries

    /// Email through the SMTP test server (one temporary failure, one refused recipient) and
    /// SMS through a scripted provider (one 503, then accepted, then refused for good); then a
    /// daemon with both channels off skips them.
    @Test func deliveriesAreCountedByChannelAndOutcome() async throws {
        let smtp = try await SMTPTestServer.start(rejectRecipientDomain: "refused.example", tempfailCount: 1)
        defer { smtp.stop() }
        let provider = try await HTTPTestReceiver.start(responses: [
            ScriptedResponse(status: 503, headers: [("Retry-After", "0")], body: "busy"),
            .json(#"{"sid": "SM-0001", "status": "queued"}"#, status: 201),
            .json(#"{"message": "not a mobile number"}"#, status: 400),
        ])
        defer { Task { await provider.stop() } }
        let deliveries = "evently_deliveries_total"
        try await DaemonHarness.withTokens({ config in
            Self.unlimited(&config)
            config.delivery.smtp.host = smtp.host
            config.delivery.smtp.port = smtp.port
            config.delivery.smtp.security = .off
            config.delivery.smtp.from = "Evently <tickets@evently.example>"
            config.delivery.smtp.timeout = .seconds(5)
            config.delivery.sms.url = provider.url
            config.delivery.sms.from = "EVENTLY"
            config.delivery.sms.secret = NotificationIntakeTests.smsSecret
        }) { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let event = try await createEvent(intake, admin: admin, capacity: 10)
            let reached = try await TokenFactory.token(phone: "+447700900123", email: "ann@ok.example")
            #expect(try await book(intake, token: reached, event: event, quantity: 1).status == 201)
            try await eventually(timeout: .seconds(90), "the first booking's email and SMS sent after a retry") {
                let samples = try await intake.scrape()
                return samples.value(deliveries, ["channel": "email", "outcome": "sent"]) == 1
                    && samples.value(deliveries, ["channel": "sms", "outcome": "sent"]) == 1
            }
            let refused = try await TokenFactory.token(phone: "+447700900456", email: "bob@refused.example")
            #expect(try await book(intake, token: refused, event: event, quantity: 1).status == 201)
            var samples: [MetricSample] = []
            try await eventually(timeout: .seconds(90), "the second booking's email and SMS refused") {
                samples = try await intake.scrape()
                return samples.value(deliveries, ["channel": "email", "outcome": "failed"]) == 1
                    && samples.value(deliveries, ["channel": "sms", "outcome": "failed"]) == 1
            }
            for channel in ["email", "sms"] {
                for (outcome, count) in ["sent": 1.0, "retry": 1, "failed": 1, "skipped": 0] {
                    #expect(samples.value(deliveries, ["channel": channel, "outcome": outcome]) == count, "\(channel) \(outcome)")
                }
            }
            #expect(samples.named(deliveries).count == 8, "two channels, four outcomes: \(samples.named(deliveries))")
        }

        // No SMTP host, no SMS provider: both skipped.
        try await DaemonHarness.withTokens(Self.unlimited) { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let event = try await createEvent(intake, admin: admin, capacity: 10)
            let user = try await TokenFactory.token(phone: "+447700900789")
            #expect(try await book(intake, token: user, event: event, quantity: 1).status == 201)
            var samples: [MetricSample] = []
            try await eventually(timeout: .seconds(90), "email and SMS skipped") {
                samples = try await intake.scrape()
                return samples.value(deliveries, ["channel": "email", "outcome": "skipped"]) == 1
                    && samples.value(deliveries, ["channel": "sms", "outcome": "skipped"]) == 1
            }
            for channel in ["email", "sms"] {
                for outcome in ["sent", "retry", "failed"] {
                    #expect(samples.value(deliveries, ["channel": channel, "outcome": outcome]) == 0, "\(channel) \(outcome)")
                }
            }
        }
    }

    // MARK: Helpers

    func enqueue(_ intake: DaemonHarness, _ token: String, _ json: String) async throws -> Int {
        let reply = try await intake.send("POST", "/v1/jobs", token: token, json: json)
        #expect(reply.status == 201, "\(reply.body)")
        return try #require(reply.json["id"] as? Int)
    }

    func createEvent(_ intake: DaemonHarness, admin: String, capacity: Int) async throws -> String {
        let reply = try await intake.send("POST", "/v1/events", token: admin, json: """
            {"name": "Gauges", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": \(capacity), "price": "10.00"}
            """)
        #expect(reply.status == 201, "\(reply.body)")
        return try #require(reply.json["id"] as? String)
    }

    func book(_ intake: DaemonHarness, token: String?, event: String, quantity: Int, key: String = UUID().uuidString) async throws -> HTTPReply {
        try await intake.send("POST", "/v1/bookings", token: token, json: #"{"event_id": "\#(event)", "quantity": \#(quantity)}"#,
                              headers: ["Idempotency-Key": key])
    }
}

/// One sample of the Prometheus text format: `name{label="value",...} value`.
struct MetricSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double

    /// Parses the text exposition format (comments skipped; label values unescaped).
    static func parse(_ text: String) -> [MetricSample] {
        var samples: [MetricSample] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
            var characters = Substring(line)
            let name = String(characters.prefix { $0 != "{" && $0 != " " })
            characters = characters.dropFirst(name.count)
            var labels: [String: String] = [:]
            if characters.first == "{" {
                characters = characters.dropFirst()
                while let first = characters.first, first != "}" {
                    if first == "," { characters = characters.dropFirst(); continue }
                    let label = String(characters.prefix { $0 != "=" })
                    characters = characters.dropFirst(label.count + 2) // `="`
                    var value = ""
                    while let next = characters.first, next != "\"" {
                        characters = characters.dropFirst()
                        if next == "\\", let escaped = characters.first {
                            characters = characters.dropFirst()
                            value.append(escaped == "n" ? "\n" : escaped)
                        } else {
                            value.append(next)
                        }
                    }
                    characters = characters.dropFirst() // closing quote
                    labels[label] = value
                }
                characters = characters.dropFirst() // `}`
            }
            let valueText = characters.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            guard let value = Double(valueText) else { continue }
            samples.append(MetricSample(name: name, labels: labels, value: value))
        }
        return samples
    }
}

extension [MetricSample] {
    func named(_ name: String) -> [MetricSample] { filter { $0.name == name } }

    /// The value of the one sample of `name` with exactly these labels; nil when there is none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = filter { $0.name == name && $0.labels == labels }
        #expect(matching.count <= 1, "\(name)\(labels) appears \(matching.count) times")
        return matching.first?.value
    }
}

extension DaemonHarness {
    /// `GET /metrics`, parsed.
    func scrape() async throws -> [MetricSample] {
        let reply = try await send("GET", "/metrics")
        #expect(reply.status == 200)
        #expect(reply.headers["content-type"]?.hasPrefix("text/plain") == true)
        return MetricSample.parse(reply.body)
    }

    /// The queues the harness's daemon works (jobs.conf defaults).
    var configuredQueues: [String] { Array(JobsConfig(sourcePath: "").queue.queues.keys) }
}
