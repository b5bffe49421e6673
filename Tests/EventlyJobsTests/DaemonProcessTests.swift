import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing
import AsyncHTTPClient
import NIOHTTP1

/// The real `evently-jobs` binary as a child process, killed and stopped like in production.
final class DaemonProcess: Sendable {
    let process: ChildProcess
    let outputPath: String

    /// The binary built beside the test bundle.
    static var executable: String {
        let testBinary = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        return testBinary.deletingLastPathComponent().appendingPathComponent("evently-jobs").path
    }

    /// `wrapper`: a command that runs the daemon (`ip netns exec NAME`); it must exec it, so
    /// that signals reach the daemon.
    init(arguments: [String], directory: URL, wrapper: [String] = []) throws {
        outputPath = directory.appendingPathComponent("daemon-\(UUID().uuidString.prefix(6)).log").path
        process = try ChildProcess(wrapper + [Self.executable] + arguments, output: .file(outputPath))
    }

    var pid: pid_t { process.pid }

    var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { process.signal(signal) }

    /// Waits for the process to exit; returns its exit status, or nil on timeout.
    func waitForExit(timeout: Duration) async -> Int32? {
        await process.waitForExit(timeout: timeout)
    }

    deinit {
        if process.isRunning {
            process.signal(SIGKILL)
            process.waitForExit()
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(30), _ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(25))
    }
    Issue.record("timed out after \(timeout) waiting for: \(what)")
    throw CancellationError()
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct DaemonProcessTests {
    let logger = TestDatabase.logger

    func makeDirectory() throws -> URL {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A config file for a daemon on `database` of the shared test cluster.
    func writeConfig(in directory: URL, database: String, shutdownTimeout: String = "5s", concurrency: Int = 20,
                     lease: String = "2s") async throws -> String {
        let cluster = try await TestDatabase.cluster()
        let path = directory.appendingPathComponent("jobs.conf").path
        try """
            [database]
            url = "postgres://\(cluster.username)@localhost/\(database)?host=\(cluster.socketDirectory.path)"
            pool_size = 8
            [http]
            enabled = false
            [queue]
            lease = \(lease)
            rescue_interval = 300ms
            poll_interval = 200ms
            shutdown_timeout = \(shutdownTimeout)
            [queue.default]
            concurrency = \(concurrency)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func count(_ client: PostgresClient, _ sql: String) async throws -> Int {
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await value in rows.decode(Int.self) { return value }
        return 0
    }

    func withMigratedDatabase(_ body: (PostgresClient, String) async throws -> Void) async throws {
        let configuration = try await TestDatabase.makeDatabase(prefix: "proc")
        try await TestDatabase.withClient(configuration: configuration) { client in
            try await SchemaMigrator(migrations: QueueSchema.migrations, logger: logger).migrate(client)
            try await body(client, configuration.database!)
        }
    }

    @Test func killedDaemonsJobsAreFinishedByAnotherWithAtMostOneExtraAttempt() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMigratedDatabase { client, database in
            // A 4 s lease: with 2 s a loaded CI machine once let a job of the second daemon lapse
            // too (21 rescued), which is not what this test is about.
            let config = try await writeConfig(in: directory, database: database, concurrency: 20, lease: "4s")
            let jobs = JobClient(client: client, logger: logger)
            try await jobs.enqueue((0..<40).map { _ in try! NewJob(DiagnosticWorkers.Sleep.Payload(ms: 1_500)) })

            let first = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
            try await eventually("the first daemon runs 20 jobs") {
                try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'running'") == 20
            }
            first.signal(SIGKILL)
            #expect(await first.waitForExit(timeout: .seconds(5)) == 128 + SIGKILL)

            let second = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
            try await eventually(timeout: .seconds(60), "every job completes") {
                try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'") == 40
            }
            #expect(try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs") == 40, "nothing lost, nothing duplicated")
            #expect(try await count(client, "SELECT max(attempt)::bigint FROM evently_jobs.jobs") <= 2, "at most one extra attempt")
            #expect(try await count(client, """
                SELECT count(*)::bigint FROM evently_jobs.jobs
                WHERE attempt = 2 AND errors @> '[{"kind": "rescued"}]'
                """) == 20, "the 20 jobs the killed daemon held were rescued once each")
            second.signal(SIGTERM)
            #expect(await second.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(second.output)")
        }
    }

    /// Ten daemons in a row killed with SIGKILL in the middle of a drain, each while it runs
    /// jobs: every job completes exactly once in the table, nothing is discarded, and the extra
    /// attempts are bounded by what the killed daemons held.
    @Test(.timeLimit(.minutes(4)))
    func tenSigkillsInARowDuringADrainLoseNothing() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMigratedDatabase { client, database in
            // A 5 s lease: a daemon starved of CPU by the rest of the suite still renews in time,
            // so every extra attempt is one a kill caused.
            let config = try await writeConfig(in: directory, database: database, concurrency: 20, lease: "5s")
            let jobs = JobClient(client: client, logger: logger)
            let total = 1_500
            try await jobs.enqueue((0..<total).map { _ in try! NewJob(DiagnosticWorkers.Sleep.Payload(ms: 150)) })

            var kills = 0
            var completedBeforeEachKill: [Int] = []
            // Jobs a killed daemon left 'running': its 20 slots, and jobs it had finished whose
            // outcome still waited in its completer. Each may run once more, no more.
            var leftRunning = 0
            while kills < 10 {
                let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
                let before = try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'")
                // Killed while it works: some jobs running, some finished since it started.
                try await eventually(timeout: .seconds(30), "daemon \(kills + 1) runs jobs") {
                    let running = try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'running'")
                    let completed = try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'")
                    return running > 0 && completed > before
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 100...600)))
                daemon.signal(SIGKILL)
                #expect(await daemon.waitForExit(timeout: .seconds(5)) == 128 + SIGKILL)
                kills += 1
                leftRunning += try await count(client, """
                    SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'running' AND attempted_by LIKE '%:\(daemon.pid)'
                    """)
                completedBeforeEachKill.append(try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'"))
            }
            #expect(completedBeforeEachKill.last ?? total < total, "the kills happened during the drain: \(completedBeforeEachKill)")

            let last = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
            try await eventually(timeout: .seconds(90), "every job completes") {
                try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'") == total
            }
            #expect(try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs") == total, "nothing lost, nothing duplicated")
            #expect(try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state <> 'completed'") == 0)
            let extraAttempts = try await count(client, "SELECT coalesce(sum(attempt - 1), 0)::bigint FROM evently_jobs.jobs")
            #expect(extraAttempts <= leftRunning, "extra attempts: \(extraAttempts); jobs the killed daemons left running: \(leftRunning)")
            #expect(try await count(client, "SELECT max(attempt)::bigint FROM evently_jobs.jobs") <= 11)
            last.signal(SIGTERM)
            #expect(await last.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(last.output)")
        }
    }

    @Test func sigtermHandsBackWhatCannotFinishAndExitsZero() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMigratedDatabase { client, database in
            let config = try await writeConfig(in: directory, database: database, shutdownTimeout: "500ms", concurrency: 10)
            let jobs = JobClient(client: client, logger: logger)
            try await jobs.enqueue((0..<10).map { _ in try! NewJob(DiagnosticWorkers.Sleep.Payload(ms: 30_000)) })
            let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
            try await eventually("10 jobs run") {
                try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'running'") == 10
            }
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: .seconds(10)) == 0, "output:\n\(daemon.output)")
            #expect(try await count(client, """
                SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'available' AND attempt = 0
                """) == 10, "all handed back without spending an attempt")
        }
    }

    @Test func sigtermLetsShortJobsFinish() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withMigratedDatabase { client, database in
            let config = try await writeConfig(in: directory, database: database, shutdownTimeout: "10s", concurrency: 10)
            let jobs = JobClient(client: client, logger: logger)
            try await jobs.enqueue((0..<10).map { _ in try! NewJob(DiagnosticWorkers.Sleep.Payload(ms: 3_000)) })
            let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
            // All ten started (on a loaded machine a few may already be done: a daemon that is
            // slow to start claims in more than one round).
            try await eventually("10 jobs started") {
                try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE attempt = 1") == 10
            }
            daemon.signal(SIGTERM)
            #expect(await daemon.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(daemon.output)")
            #expect(try await count(client, "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state = 'completed'") == 10)
        }
    }

    @Test func serveOnTheEmbeddedDatabaseIsReadyAndStopsCleanly() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("jobs.conf").path
        try """
            [database]
            embedded_dir = "pg"
            [http]
            port = 0
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
        var port: Int?
        try await eventually(timeout: .seconds(60), "the HTTP intake listens") {
            port = daemon.output.split(separator: "\n").first { $0.contains("HTTP intake listening on") }
                .flatMap { $0.split(separator: ":").last }.flatMap { Int($0) }
            return port != nil
        }
        let response = try await TestHTTP.client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port!)/readyz"), timeout: .seconds(10))
        #expect(response.status.code == 200)
        #expect(daemon.output.contains("using embedded PostgreSQL in \(directory.path)/pg"))

        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: .seconds(15)) == 0, "output:\n\(daemon.output)")
        let embedded = EmbeddedPostgres(directory: directory.appendingPathComponent("pg"), logger: logger)
        #expect(try !embedded.isRunning(), "no PostgreSQL is left behind")
    }

    @Test func badConfigurationExitsNonZeroNamingTheLine() async throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("jobs.conf").path
        try "[http]\nport = \"eighty\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(arguments: ["serve", "--config", config], directory: directory)
        let status = await daemon.waitForExit(timeout: .seconds(10))
        #expect(status != nil && status != 0)
        #expect(daemon.output.contains("jobs.conf:2: http.port: expected an integer"))
    }
}
