import Foundation
import PostgresNIO
import Queue
#if canImport(Glibc)
import Glibc
#endif

/// PostgreSQL in a network namespace of its own and `daemons` more namespaces, each joined to the
/// database's by a veth pair: daemon `i` (from 1) reaches the server at `10.77.i.1:5432` from
/// `10.77.i.2`, and nothing else. A link can be taken down and brought back, which black-holes
/// that daemon's traffic (a veth whose peer is down drops what is sent to it). The test process
/// itself reaches the server over its unix socket, which no network namespace hides.
///
/// Needs root (`ip netns`); every namespace and the server go away in ``stop()``, and namespaces
/// left by a test process that died are removed by the next ``start(daemons:)``.
public final class NamespacedPostgres: Sendable {
    public let user = "evently"
    public let daemons: Int
    let tag: String
    let directory: String

    private init(tag: String, daemons: Int, directory: String) {
        self.tag = tag
        self.daemons = daemons
        self.directory = directory
    }

    deinit { stop() }

    static let prefix = "evns"
    var databaseNamespace: String { "\(tag)db" }
    public func daemonNamespace(_ index: Int) -> String { "\(tag)d\(index)" }
    /// The veth end in the database's namespace; its peer (`…b<i>`) is in daemon `i`'s.
    func databaseLink(_ index: Int) -> String { "\(tag)a\(index)" }
    var dataDirectory: String { directory + "/data" }

    /// The server's unix-socket folder (for the test process).
    public var socketDirectory: String { directory }

    /// What daemon `index` puts in `database.url`.
    public func url(forDaemon index: Int) -> String {
        "postgres://\(user)@10.77.\(index).1:5432/postgres?sslmode=disable"
    }

    /// The test process's way in: the unix socket.
    public var localConfiguration: PostgresClient.Configuration {
        PostgresClient.Configuration(unixSocketPath: "\(directory)/.s.PGSQL.5432", username: user, password: nil, database: "postgres")
    }

    /// `argv` run inside daemon `index`'s namespace.
    public func command(inDaemonNamespace index: Int, _ argv: [String]) -> [String] {
        ["/usr/sbin/ip", "netns", "exec", daemonNamespace(index)] + argv
    }

    /// Takes daemon `index`'s link down (its traffic is dropped, nothing is refused) or back up.
    public func setLink(ofDaemon index: Int, up: Bool) throws {
        try Self.ip(["-n", databaseNamespace, "link", "set", databaseLink(index), up ? "up" : "down"])
    }

    public static func start(daemons: Int) async throws -> NamespacedPostgres {
        try await runBlocking {
            removeLeftovers()
            let directory = try ChildProcesses.makeScratchDirectory(prefix: "evently-netns")
            chmod(directory, 0o777)
            let cluster = NamespacedPostgres(tag: "\(prefix)\(getpid())", daemons: daemons, directory: directory)
            try cluster.makeNetwork()
            try cluster.startServer()
            return cluster
        }
    }

    private func makeNetwork() throws {
        try Self.ip(["netns", "add", databaseNamespace])
        try Self.ip(["-n", databaseNamespace, "link", "set", "lo", "up"])
        for index in 1...daemons {
            let namespace = daemonNamespace(index)
            let peer = "\(tag)b\(index)"
            try Self.ip(["netns", "add", namespace])
            try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
            try Self.ip(["link", "add", databaseLink(index), "netns", databaseNamespace, "type", "veth", "peer", "name", peer, "netns", namespace])
            try Self.ip(["-n", databaseNamespace, "address", "add", "10.77.\(index).1/24", "dev", databaseLink(index)])
            try Self.ip(["-n", namespace, "address", "add", "10.77.\(index).2/24", "dev", peer])
            try Self.ip(["-n", databaseNamespace, "link", "set", databaseLink(index), "up"])
            try Self.ip(["-n", namespace, "link", "set", peer, "up"])
        }
    }

    private func startServer() throws {
        try postgres("initdb", ["-D", dataDirectory, "-A", "trust", "-U", user, "--no-sync"])
        try "host all all 10.77.0.0/16 trust\n".append(toFile: dataDirectory + "/pg_hba.conf")
        try postgres("pg_ctl", ["start", "-w", "-t", "60", "-D", dataDirectory, "-l", dataDirectory + ".log",
                                "-o", "-p 5432 -k \(directory) -c listen_addresses='*' -c fsync=off -c max_connections=200"],
                     inNamespace: databaseNamespace)
    }

    public func stop() {
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            _ = try? postgres("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", dataDirectory])
        }
        Self.removeNamespaces(withTag: tag)
    }

    /// Namespaces of test processes that are gone.
    private static func removeLeftovers() {
        guard let (_, listing) = try? ChildProcess.run(["/usr/sbin/ip", "netns", "list"]) else { return }
        for line in listing.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            guard name.hasPrefix(prefix) else { continue }
            let digits = name.dropFirst(prefix.count).prefix { $0.isNumber }
            guard let pid = Int32(digits), kill(pid, 0) != 0 else { continue }
            _ = try? ChildProcess.run(["/usr/sbin/ip", "netns", "delete", name])
        }
    }

    private static func removeNamespaces(withTag tag: String) {
        guard let (_, listing) = try? ChildProcess.run(["/usr/sbin/ip", "netns", "list"]) else { return }
        for line in listing.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            if name.hasPrefix(tag), name.dropFirst(tag.count).first.map({ !$0.isNumber }) ?? false {
                _ = try? ChildProcess.run(["/usr/sbin/ip", "netns", "delete", name])
            }
        }
    }

    private static func ip(_ arguments: [String]) throws {
        let (status, output) = try ChildProcess.run(["/usr/sbin/ip"] + arguments)
        guard status == 0 else { throw TestServerError("ip \(arguments.joined(separator: " ")) exited \(status): \(output)") }
    }

    /// A PostgreSQL program as `postgres` (PostgreSQL refuses to run as root), optionally inside a namespace.
    @discardableResult
    private func postgres(_ name: String, _ arguments: [String], inNamespace namespace: String? = nil) throws -> String {
        let executable = try EmbeddedPostgres.locate(name)
        var argv = ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments
        if let namespace { argv = ["/usr/sbin/ip", "netns", "exec", namespace] + argv }
        let (status, output) = try ChildProcess.run(argv)
        guard status == 0 else {
            let log = (try? String(contentsOfFile: dataDirectory + ".log", encoding: .utf8)) ?? ""
            throw TestServerError("\(name) \(arguments.joined(separator: " ")) exited \(status): \(output)\n\(log.suffix(2_000))")
        }
        return output
    }
}

private extension String {
    func append(toFile path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(utf8))
    }
}
