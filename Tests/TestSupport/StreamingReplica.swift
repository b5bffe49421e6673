import Foundation
import PostgresNIO
import Queue
#if canImport(Glibc)
import Glibc
#endif

/// A primary and a streaming replica made from it with `pg_basebackup -R`, each its own server on
/// 127.0.0.1 (trust authentication on loopback, `fsync` off), for the tests of reads that go to a
/// replica. As root the servers run as `postgres`, like the embedded cluster.
public final class StreamingReplica: Sendable {
    public let primaryPort: Int
    public let replicaPort: Int
    public let user = "evently"
    let directory: String

    private init(primaryPort: Int, replicaPort: Int, directory: String) {
        self.primaryPort = primaryPort
        self.replicaPort = replicaPort
        self.directory = directory
    }

    deinit { stop() }

    var primaryData: String { directory + "/primary" }
    var replicaData: String { directory + "/replica" }

    /// Creates and starts both servers; the replica is streaming when this returns.
    ///
    /// `synchronous`: the primary waits for the replica to flush each commit before it answers
    /// (`synchronous_standby_names = '*'`), so whatever it acknowledged survives its loss.
    public static func start(synchronous: Bool = false) async throws -> StreamingReplica {
        try await runBlocking {
            let directory = try ChildProcesses.makeScratchDirectory(prefix: "evently-replica")
            chmod(directory, 0o777)
            let primaryPort = try PgBouncerTestServer.freePortOutsideEphemeralRange()
            var replicaPort = try PgBouncerTestServer.freePortOutsideEphemeralRange()
            while replicaPort == primaryPort { replicaPort = try PgBouncerTestServer.freePortOutsideEphemeralRange() }
            let pair = StreamingReplica(primaryPort: primaryPort, replicaPort: replicaPort, directory: directory)
            try pair.tool("initdb", ["-D", pair.primaryData, "-A", "trust", "-U", pair.user, "--no-sync"])
            try pair.startServer(pair.primaryData, port: primaryPort, extra: "-c wal_level=replica -c max_wal_senders=5"
                                    + (synchronous ? " -c synchronous_standby_names='*'" : ""))
            try pair.tool("pg_basebackup", ["-h", "127.0.0.1", "-p", String(primaryPort), "-U", pair.user, "-D", pair.replicaData,
                                            "-R", "-X", "stream", "--no-sync"])
            try pair.startReplica()
            if synchronous { try pair.waitUntilSynchronous() }
            return pair
        }
    }

    /// `postgres://` URL of the primary's or the replica's `postgres` database.
    public var primaryURL: String { "postgres://\(user)@127.0.0.1:\(primaryPort)/postgres?sslmode=disable" }
    public var replicaURL: String { "postgres://\(user)@127.0.0.1:\(replicaPort)/postgres?sslmode=disable" }

    public func configuration(port: Int) -> PostgresClient.Configuration {
        PostgresClient.Configuration(host: "127.0.0.1", port: port, username: user, password: nil, database: "postgres", tls: .disable)
    }

    /// Stops the replica (fast shutdown): reads there fail until ``startReplica()``.
    public func stopReplica() throws {
        try tool("pg_ctl", ["stop", "-w", "-m", "fast", "-D", replicaData])
    }

    public func startReplica() throws {
        try startServer(replicaData, port: replicaPort, extra: "-c hot_standby=on")
    }

    /// Waits (up to 60 s) until the primary counts the replica as its synchronous standby: before
    /// that, every commit on the primary waits for the replica to catch up.
    private func waitUntilSynchronous() throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let state = try tool("psql", ["-h", "127.0.0.1", "-p", String(primaryPort), "-U", user, "-d", "postgres", "-Atc",
                                          "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'"])
            if state.trimmingCharacters(in: .whitespacesAndNewlines) == "1" { return }
            guard ContinuousClock.now < deadline else { throw TestServerError("the replica did not become synchronous within 60 s") }
            usleep(100_000)
        }
    }

    /// The primary's server process dies at once (`pg_ctl stop -m immediate`), as in a crash.
    public func crashPrimary() throws {
        try tool("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", primaryData])
    }

    /// Makes the replica a primary (`pg_ctl promote`); it takes writes when this returns.
    public func promoteReplica() throws {
        try tool("pg_ctl", ["promote", "-w", "-t", "60", "-D", replicaData])
    }

    public func stop() {
        for data in [replicaData, primaryData] where FileManager.default.fileExists(atPath: data + "/postmaster.pid") {
            _ = try? tool("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", data])
        }
    }

    private func startServer(_ data: String, port: Int, extra: String) throws {
        try tool("pg_ctl", ["start", "-w", "-t", "60", "-D", data, "-l", data + ".log",
                            "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off \(extra)"])
    }

    @discardableResult
    private func tool(_ name: String, _ arguments: [String]) throws -> String {
        let executable = try EmbeddedPostgres.locate(name)
        let argv = geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let (status, output) = try ChildProcess.run(argv)
        guard status == 0 else {
            let logs = [primaryData + ".log", replicaData + ".log"].compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
                .map { $0.split(separator: "\n").suffix(10).joined(separator: "\n") }.joined(separator: "\n")
            throw TestServerError("\(name) \(arguments.joined(separator: " ")) exited \(status): \(output)\n\(logs)")
        }
        return output
    }
}
