import Foundation
import Logging
import PostgresNIO
import Queue

/// The SQL limit of the queue as PostgreSQL's own benchmark tool sees it: pgbench (shipped with
/// PostgreSQL) running the daemon's claim and complete statements (``QueueBenchmark/pgbenchScript(queue:batch:)``)
/// on `clients` connections, durable commits, until the queue is empty.
enum PgbenchBaseline {
    /// pgbench from PATH, else from the newest /usr/lib/postgresql/N/bin.
    static func executable() throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/pgbench") {
            return "\(directory)/pgbench"
        }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) })
        where FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/pgbench") {
            return "/usr/lib/postgresql/\(version)/bin/pgbench"
        }
        throw CommandFailure(message: "pgbench not found (it ships with PostgreSQL: postgresql-client or /usr/lib/postgresql/N/bin)")
    }

    /// Drains the `jobs` waiting `diag.noop` jobs with pgbench and returns jobs completed per second
    /// of wall time (pgbench's start and its connections included, as the daemon's are not).
    static func drain(jobs: Int, batch: Int, clients: Int, databaseURL: String, client: PostgresClient, logger: Logger) async throws -> Double {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("evently-pgbench-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let script = directory.appendingPathComponent("claim-complete.sql").path
        try QueueBenchmark.pgbenchScript(batch: batch).write(toFile: script, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("pgbench.log").path
        // Each client's share of the claims, and one more each that finds the queue empty.
        let perClient = (jobs + batch * clients - 1) / (batch * clients) + 1
        let before = try await QueueBenchmark.completedCount(client: client, logger: logger)
        let started = ContinuousClock.now
        // A claim that meets a job another client's completion moved to jobs_finished fails with
        // 40001 (q0005), as the daemon's does and retries; without retries pgbench spends one of
        // its counted transactions on it and leaves jobs behind.
        let process = try ChildProcess([try executable(), "-n", "-M", "simple", "-c", "\(clients)", "-j", "\(min(clients, 2))",
                                        "--max-tries", "20", "-t", "\(perClient)", "-f", script, databaseURL],
                                       output: .file(log), error: .file(log))
        guard let status = await process.waitForExit(timeout: .seconds(600)) else {
            process.terminate(within: .seconds(5))
            throw CommandFailure(message: "pgbench did not finish within 10 minutes")
        }
        let elapsed = ContinuousClock.now - started
        guard status == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw CommandFailure(message: "pgbench exited with \(status):\n\(output.suffix(2_000))")
        }
        let completed = try await QueueBenchmark.completedCount(client: client, logger: logger) - before
        guard completed >= jobs else { throw CommandFailure(message: "pgbench completed \(completed) of \(jobs) jobs") }
        return Double(completed) / elapsed.timeInterval
    }
}
