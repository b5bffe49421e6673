import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Queue

/// `evently-jobs bench console`: every request the operators' console makes, timed against a
/// real `evently-jobs serve` over a jobs table holding millions of finished jobs, and against a
/// second daemon over a near-empty table of the same shape in the same run (interleaved A B).
struct ConsoleBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Time every console request with millions of finished jobs, against a near-empty baseline.",
        discussion: """
            Fills evently_bench_console (set-based INSERT ... SELECT generate_series, in chunks) with finished
            jobs (completed, ~1% discarded with errors, ~0.5% cancelled) and unfinished ones (available,
            scheduled, retryable, running) over 4 queues and 11 kinds, spread over 30 days; then starts two
            `evently-jobs serve` processes with every queue paused (one on that database, one on
            evently_bench_console_base, filled the same way with --baseline-finished/--baseline-unfinished jobs)
            and sends each console request --samples times to each, alternating.
            Example: evently-jobs bench console --config jobs.conf --finished 10000000 --unfinished 100000
            """)

    static let database = "evently_bench_console"
    static let baselineDatabase = "evently_bench_console_base"
    /// The answer every request should beat (the issue's target).
    static let target = 0.200

    @OptionGroup var options: ConfigOptions
    @Option(help: "Finished jobs (completed, discarded, cancelled) in the measured table.") var finished = 10_000_000
    @Option(help: "Unfinished jobs (available, scheduled, retryable, running) in the measured table.") var unfinished = 100_000
    @Option(help: "Timed requests per console request and database.") var samples = 20
    @Option(help: "Timed requests of the text searches (`q`), which read through history (seconds each with millions of jobs).")
    var scanSamples = 3
    @Option(help: "Rows per INSERT statement of the fill.") var chunk = 1_000_000
    @Option(help: "Finished jobs of the baseline table.") var baselineFinished = 1_000
    @Option(help: "Unfinished jobs of the baseline table.") var baselineUnfinished = 100
    @Flag(help: "Reuse evently_bench_console when an earlier run filled it with the same numbers (skips the fill).")
    var keep = false

    func validate() throws {
        guard finished >= 0, unfinished >= 0, finished + unfinished > 0 else { throw ValidationError("--finished and --unfinished must be ≥ 0, not both 0") }
        guard baselineFinished >= 0, baselineUnfinished >= 0, baselineFinished + baselineUnfinished > 0 else {
            throw ValidationError("--baseline-finished and --baseline-unfinished must be ≥ 0, not both 0")
        }
        guard samples > 0, scanSamples > 0 else { throw ValidationError("--samples and --scan-samples must be positive") }
        guard chunk > 0 else { throw ValidationError("--chunk must be positive") }
    }

    func run() async throws {
        try await options.withDatabase(logLevel: { _ in .warning }) { _, logger, base in
            let cores = ProcessInfo.processInfo.activeProcessorCount
            print("evently-jobs bench console: \(finished) finished + \(unfinished) unfinished jobs, baseline \(baselineFinished) + \(baselineUnfinished), \(samples) samples, \(cores) cores")
            let fullConfiguration = try await prepare(Self.database, finished: finished, unfinished: unfinished,
                                                      reuse: keep, base: base, logger: logger)
            let baseConfiguration = try await prepare(Self.baselineDatabase, finished: baselineFinished,
                                                      unfinished: baselineUnfinished, reuse: keep, base: base, logger: logger)
            let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let full = PostgresClient(configuration: fullConfiguration, backgroundLogger: logger)
            let baseline = PostgresClient(configuration: baseConfiguration, backgroundLogger: logger)
            try await full.whileRunning {
                try await baseline.whileRunning {
                    let fullDaemon = try await BenchDaemon.start(client: full, configuration: fullConfiguration, secret: secret, logger: logger)
                    defer { fullDaemon.serve.stop() }
                    let baseDaemon = try await BenchDaemon.start(client: baseline, configuration: baseConfiguration, secret: secret, logger: logger)
                    defer { baseDaemon.serve.stop() }
                    let results = try await measure(http: HTTPClient.shared, full: fullDaemon, baseline: baseDaemon, logger: logger)
                    print(Self.table(results, samples: samples, scanSamples: scanSamples))
                }
            }
        }
    }

    // MARK: The data

    /// The database `name`, migrated and holding `finished` + `unfinished` jobs: filled now, or
    /// kept from an earlier run with `reuse` when that run filled it with the same numbers.
    func prepare(_ name: String, finished: Int, unfinished: Int, reuse: Bool, base: PostgresClient.Configuration,
                 logger: Logger) async throws -> PostgresClient.Configuration {
        let mark = "evently-jobs bench console: filled \(finished) finished + \(unfinished) unfinished"
        if reuse, try await Self.databaseComment(name, base: base, logger: logger) == mark {
            var configuration = base
            configuration.database = name
            configuration.options.maximumConnections = 8
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            try await client.whileRunning {
                try await DatabaseSchema.migrator(logger: logger).migrate(client)
                try await client.query("ANALYZE evently_jobs.jobs", logger: logger)
            }
            print("\(name): kept from an earlier run (\(finished) + \(unfinished) jobs)")
            return configuration
        }
        var configuration = try await BenchCommand.freshDatabase(name, base: base, logger: logger)
        configuration.options.maximumConnections = 8
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        try await client.whileRunning {
            try await DatabaseSchema.migrator(logger: logger).migrate(client)
            try await Self.fill(client, name: name, finished: finished, unfinished: unfinished, chunk: chunk, logger: logger)
            try await client.query("COMMENT ON DATABASE \(unescaped: name) IS \(unescaped: "'\(mark)'")", logger: logger)
        }
        return configuration
    }

    static func databaseComment(_ name: String, base: PostgresClient.Configuration, logger: Logger) async throws -> String? {
        let admin = PostgresClient(configuration: base, backgroundLogger: logger)
        return try await admin.whileRunning {
            let rows = try await admin.query(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = \(name)", logger: logger)
            for try await comment in rows.decode(String?.self) { return comment }
            return nil
        }
    }

    /// The queues of the filled jobs, and the kinds by queue (the kinds the real workers have).
    static let queues = ["default", "notifications", "maintenance", "reports"]
    static let kinds = ["email.send", "notifications.dispatch", "sms.send", "waitlist.promote", "reminders.scan", "diag.noop",
                        "waitlist.lapse_offers", "events.complete", "queue.prune", "notifications.prune", "report.build"]
    /// The last errors of failed attempts: each kind's discarded jobs fall into these groups.
    static let messages = ["SMTP 550 5.1.1 mailbox unavailable", "connection refused: smtp.example.org:587", "timed out after 30s",
                           "SMS provider answered 400: not a mobile number", "booking not found",
                           "could not serialize access due to concurrent update"]

    /// One statement per `chunk` rows, ids (and creation times) in order: row `i` of `n` was
    /// created at `t0 + i/n × 30 days`. The `unfinished` jobs are every `k`-th row of the newest
    /// `unfinished × k` (k ≤ 10), so the newest days mix unfinished and finished work.
    static func fill(_ client: PostgresClient, name: String, finished: Int, unfinished: Int, chunk: Int, logger: Logger) async throws {
        let total = finished + unfinished
        let stride = unfinished == 0 ? 1 : max(1, min(10, total / unfinished))
        let window = unfinished * stride
        let rows = try await client.query("SELECT now() - interval '30 days'", logger: logger)
        var start = Date()
        for try await value in rows.decode(Date.self) { start = value }
        // The wake-up trigger would gather each statement's rows to notify nobody.
        try await client.query("ALTER TABLE evently_jobs.jobs DISABLE TRIGGER jobs_notify_inserted", logger: logger)
        let began = ContinuousClock.now
        var low = 1
        while low <= total {
            let high = min(total, low + chunk - 1)
            try await client.query(Self.fillStatement(low: low, high: high, total: total, window: window, stride: stride, start: start),
                                   logger: logger)
            let elapsed = (ContinuousClock.now - began).timeInterval
            print(String(format: "%@: %d of %d rows (%.0f s, %.0f rows/s)", name, high, total, elapsed, Double(high) / max(elapsed, 0.001)))
            low = high + 1
        }
        try await client.query("ALTER TABLE evently_jobs.jobs ENABLE TRIGGER jobs_notify_inserted", logger: logger)
        let kinds = Self.kinds
        let names = JobsSchedules.names
        try await client.query("""
            INSERT INTO evently_jobs.daemons (name, host, pid, version, queues, kinds, expires_at)
            SELECT 'bench-' || h || ':' || p, 'bench-' || h, p, 'bench',
                   '{"default": 10, "notifications": 10, "maintenance": 2, "reports": 1}', \(kinds)::text[],
                   now() + interval '365 days'
            FROM (VALUES ('a', 101), ('b', 102)) AS d(h, p)
            ON CONFLICT (name) DO NOTHING
            """, logger: logger)
        try await client.query("""
            INSERT INTO evently_jobs.schedule_ticks (schedule, tick, enqueued_by)
            SELECT s, date_trunc('hour', now()) - n * interval '1 hour', 'bench-a:101'
            FROM unnest(\(names)::text[]) AS s, generate_series(0, 23) AS n
            ON CONFLICT DO NOTHING
            """, logger: logger)
        let vacuumStarted = ContinuousClock.now
        try await client.query("VACUUM ANALYZE evently_jobs.jobs", logger: logger)
        try await client.query("CHECKPOINT", logger: logger)
        print(String(format: "%@: VACUUM ANALYZE and CHECKPOINT %.0f s", name, (ContinuousClock.now - vacuumStarted).timeInterval))
    }

    static func fillStatement(low: Int, high: Int, total: Int, window: Int, stride: Int, start: Date) -> PostgresQuery {
        func list(_ values: [String]) -> String { "ARRAY[" + values.map { "'\($0)'" }.joined(separator: ", ") + "]" }
        return """
            INSERT INTO evently_jobs.jobs (queue, kind, args, state, attempt, max_attempts, run_at, attempted_at, attempted_by,
                                           lease_expires_at, finalized_at, errors, created_at)
            SELECT k.queue, k.kind,
                   jsonb_build_object('ref', 'r' || lpad(to_hex(g.i), 8, '0'), 'user_email', 'user' || h.u || '@example.org',
                                      'booking_id', h.b),
                   s.state, a.attempt, CASE WHEN s.state = 'discarded' THEN 3 ELSE 25 END,
                   CASE s.state WHEN 'scheduled' THEN now() + (1 + h.r % 4320) * interval '1 minute'
                                WHEN 'retryable' THEN now() + (1 + h.r % 60) * interval '1 minute'
                                ELSE c.created_at END,
                   a.attempted_at,
                   CASE WHEN a.attempted_at IS NOT NULL THEN CASE WHEN h.r % 2 = 0 THEN 'bench-a:101' ELSE 'bench-b:102' END END,
                   CASE WHEN s.state = 'running' THEN now() + interval '7 days' END,
                   CASE WHEN s.state IN ('completed', 'cancelled', 'discarded')
                        THEN c.created_at + (5 + h.r % 2000 + h.r % 500) * interval '1 millisecond' END,
                   CASE
                       WHEN s.state = 'completed' AND a.attempt = 2 THEN jsonb_build_array(jsonb_build_object(
                           'attempt', 1, 'at', c.created_at, 'error', m.message, 'kind', 'error'))
                       WHEN s.state = 'discarded' THEN jsonb_build_array(
                           jsonb_build_object('attempt', 1, 'at', c.created_at, 'error', m.other, 'kind', 'error'),
                           jsonb_build_object('attempt', 2, 'at', c.created_at, 'error', m.message, 'kind', 'error'),
                           jsonb_build_object('attempt', 3, 'at', c.created_at, 'error', m.message, 'kind', 'error'))
                       WHEN s.state = 'retryable' THEN (
                           SELECT jsonb_agg(jsonb_build_object('attempt', n, 'at', c.created_at + n * interval '1 minute',
                                                               'error', m.message, 'kind', 'error'))
                           FROM generate_series(1, a.attempt) AS n)
                       WHEN s.state = 'cancelled' THEN jsonb_build_array(jsonb_build_object(
                           'attempt', a.attempt, 'at', c.created_at, 'error', 'cancelled by an operator', 'kind', 'cancelled'))
                       ELSE '[]'::jsonb
                   END,
                   c.created_at
            FROM generate_series(\(low)::bigint, \(high)::bigint) AS g(i)
            CROSS JOIN LATERAL (SELECT
                abs(hashint8extended(g.i, 1) % 1000)::int AS kind_pick,
                abs(hashint8extended(g.i, 2) % 1000)::int AS state_pick,
                abs(hashint8extended(g.i, 3) % 1000000)::int AS r,
                abs(hashint8extended(g.i, 4) % 20000)::int AS u,
                abs(hashint8extended(g.i, 5) % 100000000) AS b,
                g.i > \(total)::bigint - \(window)::bigint AND (\(total)::bigint - g.i) % \(stride)::bigint = 0 AS unfinished
            ) AS h
            CROSS JOIN LATERAL (SELECT \(start)::timestamptz + (g.i::float8 / \(total)::float8) * interval '30 days' AS created_at) AS c
            CROSS JOIN LATERAL (SELECT
                (\(unescaped: list(kinds)))[CASE
                    WHEN h.kind_pick < 300 THEN 1 WHEN h.kind_pick < 550 THEN 2 WHEN h.kind_pick < 630 THEN 3
                    WHEN h.kind_pick < 730 THEN 4 WHEN h.kind_pick < 830 THEN 5 WHEN h.kind_pick < 880 THEN 6
                    WHEN h.kind_pick < 930 THEN 7 WHEN h.kind_pick < 960 THEN 8 WHEN h.kind_pick < 980 THEN 9
                    WHEN h.kind_pick < 995 THEN 10 ELSE 11 END] AS kind,
                CASE WHEN h.kind_pick < 630 THEN 'notifications' WHEN h.kind_pick < 930 THEN 'default'
                     WHEN h.kind_pick < 995 THEN 'maintenance' ELSE 'reports' END AS queue
            ) AS k
            CROSS JOIN LATERAL (SELECT
                (\(unescaped: list(messages)))[1 + h.r % \(messages.count)] AS message,
                (\(unescaped: list(messages)))[1 + (h.r / 7) % \(messages.count)] AS other
            ) AS m
            CROSS JOIN LATERAL (SELECT CASE
                WHEN h.unfinished THEN CASE WHEN h.state_pick < 700 THEN 'available' WHEN h.state_pick < 850 THEN 'scheduled'
                                            WHEN h.state_pick < 950 THEN 'retryable' ELSE 'running' END
                ELSE CASE WHEN h.state_pick < 10 THEN 'discarded' WHEN h.state_pick < 15 THEN 'cancelled' ELSE 'completed' END
            END AS state) AS s
            CROSS JOIN LATERAL (SELECT
                CASE s.state WHEN 'available' THEN 0 WHEN 'scheduled' THEN 0 WHEN 'retryable' THEN 1 + h.r % 3
                             WHEN 'running' THEN 1 WHEN 'discarded' THEN 3 WHEN 'cancelled' THEN h.r % 2
                             ELSE CASE WHEN h.state_pick < 35 THEN 2 ELSE 1 END END AS attempt,
                CASE WHEN s.state IN ('available', 'scheduled') OR (s.state = 'cancelled' AND h.r % 2 = 0) THEN NULL
                     WHEN s.state = 'running' THEN now() - (h.r % 300) * interval '1 second'
                     WHEN s.state = 'retryable' THEN c.created_at + interval '1 second'
                     ELSE c.created_at + (h.r % 2000) * interval '1 millisecond' END AS attempted_at
            ) AS a
            """
    }

    // MARK: The daemons

    /// A `serve` process on one of the two databases, with what its requests need.
    struct BenchDaemon {
        var serve: ServeProcess
        var port: Int
        var operatorToken: String
        var adminToken: String
        /// Facts of its table the requests use (ids, times).
        var facts: Facts

        struct Facts {
            var firstCreated: Date
            var lastCreated: Date
            var middleID: Int64
            var middleRef: String
        }

        /// Pauses every queue (so nothing is claimed while measuring), then starts `serve` on the
        /// database of `configuration` with HTTP on a free port, the shipped schedules and
        /// the scheduler off (no prune), and waits for `/healthz`.
        static func start(client: PostgresClient, configuration: PostgresClient.Configuration, secret: String,
                          logger: Logger) async throws -> BenchDaemon {
            let jobs = JobClient(client: client, logger: logger)
            for queue in ConsoleBenchCommand.queues { try await jobs.setPaused(true, queue: queue) }
            let port = try freePort()
            let text = """
                [database]
                url = "\(BenchCommand.url(for: configuration))"
                pool_size = 12
                [http]
                enabled = true
                host = "127.0.0.1"
                port = \(port)
                rate_limit_per_user = 0
                rate_limit_per_ip = 0
                database_timeout = 60s
                [auth]
                jwt_secret = "\(secret)"
                [log]
                level = "warning"
                [scheduler]
                enabled = false
                [queue.default]
                concurrency = 10
                [queue.notifications]
                concurrency = 10
                [queue.maintenance]
                concurrency = 2
                [queue.reports]
                concurrency = 1
                \(JobsSchedules.conf)
                """
            let serve = try await BenchCommand.startServe(configuration: text, client: client, logger: logger)
            do {
                let config = try JobsConfig.load(path: serve.directory.appendingPathComponent("jobs.conf").path)
                func token(_ role: String) async throws -> String {
                    let user = UUID()
                    return try await TokenCommand.sign(secret: config.intake.jwtSecret ?? secret, intake: config.intake, userID: user,
                                                       role: role, email: "bench-\(user.uuidString.lowercased().prefix(8))@example.invalid",
                                                       lifetime: .seconds(12 * 3600))
                }
                let http = HTTPClient.shared
                let deadline = ContinuousClock.now + .seconds(60)
                while true {
                    let status = try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/healthz"), timeout: .seconds(5)).status
                    if status == .ok { break }
                    guard serve.process.isRunning, ContinuousClock.now < deadline else {
                        throw CommandFailure(message: "the daemon on port \(port) did not answer /healthz")
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                return BenchDaemon(serve: serve, port: port, operatorToken: try await token("operator"), adminToken: try await token("admin"),
                              facts: try await facts(client, logger: logger))
            } catch {
                serve.stop()
                throw error
            }
        }

        static func facts(_ client: PostgresClient, logger: Logger) async throws -> Facts {
            let rows = try await client.query("""
                SELECT min(created_at), max(created_at), max(id) FROM evently_jobs.jobs
                """, logger: logger)
            var facts = Facts(firstCreated: Date(), lastCreated: Date(), middleID: 1, middleRef: "")
            for try await (first, last, maxID) in rows.decode((Date, Date, Int64).self) {
                facts = Facts(firstCreated: first, lastCreated: last, middleID: max(1, maxID / 2), middleRef: "")
            }
            let refs = try await client.query(
                "SELECT args ->> 'ref' FROM evently_jobs.jobs WHERE id = \(facts.middleID)", logger: logger)
            for try await ref in refs.decode(String?.self) { facts.middleRef = ref ?? "" }
            return facts
        }

        /// A TCP port nothing listens on now (the kernel's pick for port 0).
        static func freePort() throws -> Int {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw CommandFailure(message: "socket() failed: errno \(errno)") }
            defer { close(descriptor) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
            }
            guard bound == 0 else { throw CommandFailure(message: "bind() failed: errno \(errno)") }
            let named = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
            }
            guard named == 0 else { throw CommandFailure(message: "getsockname() failed: errno \(errno)") }
            return Int(UInt16(bigEndian: address.sin_port))
        }
    }

    // MARK: The requests

    /// One request of the console, its path built from the facts of the daemon's table.
    struct ConsoleRequest {
        enum Role { case none, staff, admin }
        var name: String
        var method: HTTPMethod = .GET
        var role: Role = .staff
        /// A text search (`q`): checked row by row through history, so timed --scan-samples times.
        var scans = false
        var path: (BenchDaemon) -> String
    }

    static func query(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }

    static func time(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    /// Every request of console.js: the views (overview, jobs with each filter and a next page,
    /// one job, failures, schedules, daemons, bookings for admins), the count the bulk buttons
    /// ask before acting, and a queue's pause button (all queues are paused already, so it
    /// changes nothing). Bulk actions and retry/cancel of one job change the data and are left out.
    static func requests(pageTwo: [Int: String]) -> [ConsoleRequest] {
        let user = "user4242@example.org"
        let group = messages[0]
        let day = { (daemon: BenchDaemon) in daemon.facts.firstCreated.addingTimeInterval(15 * 86_400) }
        func jobs(_ name: String, scans: Bool = false, _ pairs: @escaping (BenchDaemon) -> [(String, String)]) -> ConsoleRequest {
            ConsoleRequest(name: "jobs: " + name, scans: scans) { "/v1/jobs?" + query(pairs($0) + [("limit", "50")]) }
        }
        func count(_ name: String, scans: Bool = false, _ pairs: @escaping (BenchDaemon) -> [(String, String)]) -> ConsoleRequest {
            ConsoleRequest(name: "count: " + name, scans: scans) { "/v1/jobs/count?" + query(pairs($0)) }
        }
        var list: [ConsoleRequest] = [
            ConsoleRequest(name: "console page", role: .none) { _ in "/console" },
            ConsoleRequest(name: "overview: queues (status)") { _ in "/v1/queues?limit=200" },
            ConsoleRequest(name: "overview: stats, 60 minutes") { _ in "/v1/stats?minutes=60" },
            jobs("first page, no filter") { _ in [] },
            ConsoleRequest(name: "jobs: page 2 (cursor)") { "/v1/jobs?" + query([("limit", "50"), ("cursor", pageTwo[$0.port] ?? "")]) },
            ConsoleRequest(name: "jobs: page at the middle of history (cursor)") {
                "/v1/jobs?" + query([("limit", "50"), ("cursor", KeysetPage.encode(before: $0.facts.middleID))])
            },
        ]
        for state in JobState.allCases { list.append(jobs("state=\(state.rawValue)") { _ in [("state", state.rawValue)] }) }
        list += [
            jobs("state=discarded,retryable (failing)") { _ in [("state", "discarded,retryable")] },
            jobs("kind=email.send (30%)") { _ in [("kind", "email.send")] },
            jobs("kind=report.build (0.5%)") { _ in [("kind", "report.build")] },
            jobs("queue=notifications") { _ in [("queue", "notifications")] },
            jobs("state=available&queue=reports (overview link)") { _ in [("state", "available"), ("queue", "reports")] },
            jobs("since=24 h ago") { [("since", time($0.facts.lastCreated.addingTimeInterval(-86_400)))] },
            jobs("since/until: one day, 15 days back") { [("since", time(day($0))), ("until", time(day($0).addingTimeInterval(86_400)))] },
            jobs("q=a user's email (1 job in 20,000)", scans: true) { _ in [("q", user)] },
            jobs("q=one job's ref (unique)", scans: true) { [("q", $0.facts.middleRef)] },
            jobs("q=text of an error", scans: true) { _ in [("q", "mailbox unavailable")] },
            jobs("state=discarded&q=text of an error", scans: true) { _ in [("state", "discarded"), ("q", "mailbox unavailable")] },
            jobs("failure group (state, kind, error)") { _ in [("state", "discarded,retryable"), ("kind", "email.send"), ("error", group)] },
            count("no filter") { _ in [] },
            count("state=completed") { _ in [("state", "completed")] },
            count("state=discarded,retryable") { _ in [("state", "discarded,retryable")] },
            count("kind=report.build") { _ in [("kind", "report.build")] },
            count("since/until: one day") { [("since", time(day($0))), ("until", time(day($0).addingTimeInterval(86_400)))] },
            count("q=a user's email", scans: true) { _ in [("q", user)] },
            count("failure group") { _ in [("state", "discarded,retryable"), ("kind", "email.send"), ("error", group)] },
            ConsoleRequest(name: "job: one, with its errors") { "/v1/jobs/\($0.facts.middleID)" },
            ConsoleRequest(name: "failures (24 h)") { _ in "/v1/failures" },
            ConsoleRequest(name: "schedules") { _ in "/v1/schedules" },
            ConsoleRequest(name: "daemons") { _ in "/v1/daemons" },
            ConsoleRequest(name: "pause a queue (POST, answers its status)", method: .POST) { _ in "/v1/queues/reports/pause" },
            ConsoleRequest(name: "bookings: utilisation (admin)", role: .admin) { _ in "/v1/analytics/utilisation?limit=50" },
            ConsoleRequest(name: "bookings: waitlists (admin)", role: .admin) { _ in "/v1/analytics/waitlists?limit=50" },
        ]
        return list
    }

    struct Result {
        var name: String
        var full: [Double]
        var baseline: [Double]
        /// Statuses other than 200, with how often.
        var unexpected: [String: Int]
    }

    func measure(http: HTTPClient, full: BenchDaemon, baseline: BenchDaemon, logger: Logger) async throws -> [Result] {
        func send(_ request: ConsoleRequest, to daemon: BenchDaemon) async throws -> (seconds: Double, status: Int, cursor: String?) {
            var outgoing = HTTPClientRequest(url: "http://127.0.0.1:\(daemon.port)\(request.path(daemon))")
            outgoing.method = request.method
            switch request.role {
            case .none: break
            case .staff: outgoing.headers.add(name: "Authorization", value: "Bearer \(daemon.operatorToken)")
            case .admin: outgoing.headers.add(name: "Authorization", value: "Bearer \(daemon.adminToken)")
            }
            outgoing.headers.add(name: "Accept", value: "application/json")
            let started = ContinuousClock.now
            let response = try await http.execute(outgoing, timeout: .seconds(300))
            _ = try await response.body.collect(upTo: 64 << 20)
            let seconds = (ContinuousClock.now - started).timeInterval
            return (seconds, Int(response.status.code), response.headers.first(name: "X-Next-Cursor"))
        }
        // The next-page cursor of each daemon's first page, as the console's "Next page" follows it.
        var pageTwo: [Int: String] = [:]
        let first = ConsoleRequest(name: "") { _ in "/v1/jobs?limit=50" }
        for daemon in [full, baseline] { pageTwo[daemon.port] = try await send(first, to: daemon).cursor }

        var results: [Result] = []
        for request in Self.requests(pageTwo: pageTwo) {
            var result = Result(name: request.name, full: [], baseline: [], unexpected: [:])
            // One untimed request each first (plans, caches), then A B A B.
            for daemon in [full, baseline] { _ = try await send(request, to: daemon) }
            for _ in 0..<(request.scans ? scanSamples : samples) {
                for (daemon, isFull) in [(full, true), (baseline, false)] {
                    let sample = try await send(request, to: daemon)
                    if isFull { result.full.append(sample.seconds) } else { result.baseline.append(sample.seconds) }
                    if sample.status != 200 { result.unexpected["\(isFull ? "full" : "baseline") \(sample.status)", default: 0] += 1 }
                }
            }
            let p50 = BenchReport.percentile(result.full, 0.5) * 1000, maximum = (result.full.max() ?? 0) * 1000
            print(String(format: "%@: p50 %.1f ms, max %.1f ms (baseline p50 %.1f ms)%@", request.name, p50, maximum,
                         BenchReport.percentile(result.baseline, 0.5) * 1000,
                         result.unexpected.isEmpty ? "" : " statuses \(result.unexpected)"))
            results.append(result)
        }
        return results
    }

    static func table(_ results: [Result], samples: Int, scanSamples: Int) -> String {
        var lines = ["", "| request | p50 | p95 | max | baseline p50 | p50 ÷ baseline | under 200 ms |", "|---|---|---|---|---|---|---|"]
        for result in results {
            let p50 = BenchReport.percentile(result.full, 0.5), p95 = BenchReport.percentile(result.full, 0.95)
            let maximum = result.full.max() ?? 0, base = BenchReport.percentile(result.baseline, 0.5)
            let verdict = maximum < target ? "yes" : (p95 < target ? "p95 yes, max no" : "**no**")
            let note = result.unexpected.isEmpty ? "" : " (statuses: \(result.unexpected.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ")))"
            lines.append(String(format: "| %@%@ | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.1f | %@ |", result.name, note,
                                p50 * 1000, p95 * 1000, maximum * 1000, base * 1000, p50 / base, verdict))
        }
        lines.append("")
        lines.append("\(samples) samples per request and database (text searches `q`: \(scanSamples)), sequential, interleaved with the baseline; p95 and max over the samples.")
        return lines.joined(separator: "\n")
    }
}

/// The schedules of the shipped jobs.conf, so that the schedules view lists what a real daemon does.
enum JobsSchedules {
    static let names = ["retention", "lapse_offers", "complete_events", "reminders", "notifications_prune", "daily_report"]
    static let conf = """
        [schedule.retention]
        cron = "@hourly"
        kind = "queue.prune"
        [schedule.lapse_offers]
        cron = "@every 30s"
        kind = "waitlist.lapse_offers"
        [schedule.complete_events]
        cron = "*/10 * * * *"
        kind = "events.complete"
        [schedule.reminders]
        cron = "* * * * *"
        kind = "reminders.scan"
        [schedule.notifications_prune]
        cron = "30 3 * * *"
        kind = "notifications.prune"
        [schedule.daily_report]
        cron = "5 0 * * *"
        time_zone = "UTC"
        kind = "report.build"
        """
}
