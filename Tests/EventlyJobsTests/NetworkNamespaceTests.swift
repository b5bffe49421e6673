import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// Three daemons, each in a network namespace of its own, against PostgreSQL in a fourth,
/// reaching it only over their veth links. Needs root (`ip netns`); CI runs as root, and with
/// `CI=true` it runs (and fails) whoever runs it.
@Suite(.serialized, .timeLimit(.minutes(6)),
       .enabled(if: geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true", "needs root for ip netns"))
struct NetworkNamespaceTests {
    static let lease = 6
    static let total = 100_000
    /// More long jobs than the first daemon has slots, so that every daemon holds some.
    static let sleepers = 150

    @Test func aDaemonCutOffForThreeLeasesHasItsJobsRescuedByTheOthersAndEveryJobCompletesOnce() async throws {
        let cluster = try await NamespacedPostgres.start(daemons: 3)
        defer { cluster.stop() }
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = TestDatabase.logger

        try await TestDatabase.withClient(configuration: cluster.localConfiguration) { client in
            try await DatabaseSchema.migrator(logger: logger).migrate(client)
            var daemons: [DaemonProcess] = []
            for index in 1...3 {
                let path = directory.appendingPathComponent("jobs-\(index).conf").path
                try """
                    [database]
                    url = "\(cluster.url(forDaemon: index))"
                    pool_size = 6
                    connect_timeout = 2s
                    [http]
                    enabled = false
                    [queue]
                    lease = \(Self.lease)s
                    rescue_interval = 300ms
                    poll_interval = 200ms
                    shutdown_timeout = 5s
                    [queue.default]
                    concurrency = 40
                    """.write(toFile: path, atomically: true, encoding: .utf8)
                daemons.append(try DaemonProcess(arguments: ["serve", "--config", path], directory: directory,
                                                 wrapper: cluster.command(inDaemonNamespace: index, [])))
            }
            defer { for daemon in daemons { daemon.signal(SIGKILL) } }
            try await eventually(timeout: .seconds(60), "three daemons registered") {
                try await Self.number(client, "SELECT count(*)::bigint FROM evently_jobs.daemons") == 3
            }

            // Everything enqueued on a paused queue, the long jobs first in line (priority 0
            // before 1): on resuming every daemon fills its slots with them, then drains the rest.
            let jobs = JobClient(client: client, logger: logger)
            try await jobs.setPaused(true, queue: "default")
            try await jobs.enqueue((0..<Self.sleepers).map { _ in try! NewJob(DiagnosticWorkers.Sleep.Payload(ms: 8_000)) })
            var remaining = Self.total - Self.sleepers
            while remaining > 0 {
                let chunk = min(remaining, 10_000)
                try await jobs.enqueue((0..<chunk).map { _ in try! NewJob(DiagnosticWorkers.Noop.Payload(), options: .init(priority: 1)) })
                remaining -= chunk
            }
            try await jobs.setPaused(false, queue: "default")
            let cutOff = daemons[1]
            try await eventually(timeout: .seconds(30), "the second daemon runs long jobs") {
                try await Self.number(client, """
                    SELECT count(*)::bigint FROM evently_jobs.jobs
                    WHERE state = 'running' AND kind = 'diag.sleep' AND attempted_by LIKE '%:\(cutOff.pid)'
                    """) >= 20
            }

            try cluster.setLink(ofDaemon: 2, up: false)
            // What the database says it held: from now on it cannot change that.
            let held = try await Self.numbers(client, """
                SELECT id FROM evently_jobs.jobs WHERE state = 'running' AND attempted_by LIKE '%:\(cutOff.pid)'
                """)
            let heldSleepers = Set(try await Self.numbers(client, """
                SELECT id FROM evently_jobs.jobs WHERE id = ANY('{\(held.map(String.init).joined(separator: ","))}'::bigint[])
                AND kind = 'diag.sleep'
                """))
            try await Task.sleep(for: .seconds(3 * Self.lease))
            try cluster.setLink(ofDaemon: 2, up: true)

            try await eventually(timeout: .seconds(240), "every job completes") {
                try await Self.number(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'") == Self.total
            }
            #expect(try await Self.number(client, "SELECT count(*)::bigint FROM evently_jobs.jobs") == Self.total,
                    "nothing lost, nothing duplicated")
            let heldList = "'{\(held.map(String.init).joined(separator: ","))}'::bigint[]"
            // Only what the cut-off daemon held ran again, once, and elsewhere.
            let extraAttempts = try await Self.number(client, "SELECT coalesce(sum(attempt - 1), 0)::bigint FROM evently_jobs.jobs")
            if extraAttempts != Int64(held.count) {
                let others = try await Self.lines(client, """
                    SELECT id || ' ' || kind || ' attempt ' || attempt || ' by ' || coalesce(attempted_by, '?') || ' ' || errors::text
                    FROM evently_jobs.jobs WHERE attempt > 1 AND NOT id = ANY(\(heldList)) ORDER BY id LIMIT 10
                    """)
                let complaints = daemons.map { daemon in
                    "daemon \(daemon.pid):\n" + daemon.output.split(separator: "\n")
                        .filter { $0.contains("warning") || $0.contains("error") }.suffix(15).joined(separator: "\n")
                }
                Issue.record("""
                    extra attempts: \(extraAttempts), not exactly the \(held.count) jobs the cut-off daemon held; \
                    jobs it did not hold that ran again:\n\(others.joined(separator: "\n"))
                    what the daemons logged:\n\(complaints.joined(separator: "\n"))
                    """)
            }
            #expect(try await Self.number(client, """
                SELECT count(*)::bigint FROM evently_jobs.jobs
                WHERE id = ANY(\(heldList)) AND attempt = 2 AND errors @> '[{"kind": "rescued"}]'
                  AND attempted_by NOT LIKE '%:\(cutOff.pid)'
                """) == Int64(held.count), "each held job was rescued once and finished by another daemon")

            // No overlap: the cut-off daemon stopped each long job it held (its own clock says the
            // lease is about to lapse) no later than the second the database rescued it.
            let stopped = Self.stopTimes(in: cutOff.output)
            let rescued = try await Self.rescueTimes(client, ids: heldList)
            for id in heldSleepers {
                guard let stoppedAt = stopped[id], let rescuedAt = rescued[id] else {
                    Issue.record("job \(id): stopped at \(String(describing: stopped[id])), rescued at \(String(describing: rescued[id]))")
                    continue
                }
                #expect(stoppedAt <= rescuedAt.rounded(.down), "job \(id) stopped at \(stoppedAt), rescued at \(rescuedAt)")
            }
            #expect(heldSleepers.count >= 20)

            for daemon in daemons { daemon.signal(SIGTERM) }
            for daemon in daemons {
                let stopping = ContinuousClock.now
                let status = await daemon.waitForExit(timeout: .seconds(20))
                #expect(status == 0, """
                    exit status \(status.map(String.init) ?? "none: still running") \(ContinuousClock.now - stopping) after SIGTERM; \
                    output:\n\(daemon.output.suffix(2_000))
                    """)
            }
        }
    }

    /// job id → the second (Unix time) of the daemon's "stopping a job whose lease could not be renewed" line.
    static func stopTimes(in output: String) -> [Int64: Double] {
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.dateFormat = "yyyy-MM-dd'T'HH:mm:ssZ"
        var times: [Int64: Double] = [:]
        for line in output.split(separator: "\n") where line.contains("lease could not be renewed in time") {
            guard let stamp = line.split(separator: " ").first, let date = format.date(from: String(stamp)),
                  let idRange = line.range(of: #"job_id=\d+"#, options: .regularExpression),
                  let id = Int64(line[idRange].dropFirst("job_id=".count)) else { continue }
            times[id] = date.timeIntervalSince1970
        }
        return times
    }

    static func rescueTimes(_ client: PostgresClient, ids: String) async throws -> [Int64: Double] {
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            SELECT j.id, extract(epoch FROM (e->>'at')::timestamptz)::float8
            FROM evently_jobs.jobs j, jsonb_array_elements(j.errors) e
            WHERE j.id = ANY(\(ids)) AND e->>'kind' = 'rescued'
            """), logger: TestDatabase.logger)
        var times: [Int64: Double] = [:]
        for try await (id, at) in rows.decode((Int64, Double).self) { times[id] = at }
        return times
    }

    static func number(_ client: PostgresClient, _ sql: String) async throws -> Int64 {
        try await numbers(client, sql).first ?? -1
    }

    static func lines(_ client: PostgresClient, _ sql: String) async throws -> [String] {
        try await values(String.self, client, sql)
    }

    static func numbers(_ client: PostgresClient, _ sql: String) async throws -> [Int64] {
        try await values(Int64.self, client, sql)
    }

    /// The first column of every row of `sql`.
    static func values<Value: PostgresDecodable & Sendable>(_ type: Value.Type, _ client: PostgresClient,
                                                           _ sql: String) async throws -> [Value] {
        var values: [Value] = []
        for try await value in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).decode(Value.self) {
            values.append(value)
        }
        return values
    }
}
