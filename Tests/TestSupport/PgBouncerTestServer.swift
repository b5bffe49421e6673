import Foundation
import PostgresNIO
import Queue
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Debian's PgBouncer (`/usr/sbin/pgbouncer`) on 127.0.0.1 in front of a PostgreSQL server, in
/// transaction pooling mode with fewer server connections than clients, so that whatever relies
/// on session state across transactions (LISTEN, named prepared statements, session `SET`s,
/// session advisory locks) meets another client's server connection and fails as it would in
/// production.
public final class PgBouncerTestServer: Sendable {
    public let port: Int
    public let logPath: String
    private let process: Mutex<SMTPTestServer.RunningSink?>

    private init(port: Int, logPath: String, running: SMTPTestServer.RunningSink) {
        self.port = port
        self.logPath = logPath
        self.process = Mutex(running)
    }

    deinit { stop() }

    /// Starts PgBouncer in front of `host:upstreamPort` and waits (up to 20 s) until it accepts
    /// connections. Clients log in as `user` without a password (`auth_type = trust`); the
    /// server sees PgBouncer's connections as that user.
    ///
    /// - Parameter serverConnections: `default_pool_size`: server connections per database and user.
    public static func start(upstreamHost: String = "127.0.0.1", upstreamPort: Int, user: String,
                             serverConnections: Int = 4) async throws -> PgBouncerTestServer {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/pgbouncer") else {
            throw TestServerError("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/install-deps does)")
        }
        return try await runBlocking {
            var lastError: (any Error)?
            for _ in 0..<5 {
                let port = try freePortOutsideEphemeralRange()
                do {
                    return try startOnce(port: port, upstreamHost: upstreamHost, upstreamPort: upstreamPort, user: user,
                                         serverConnections: serverConnections)
                } catch {
                    lastError = error
                }
            }
            throw lastError ?? TestServerError("pgbouncer did not start")
        }
    }

    private static func startOnce(port: Int, upstreamHost: String, upstreamPort: Int, user: String,
                                  serverConnections: Int) throws -> PgBouncerTestServer {
        let directory = try ChildProcesses.makeScratchDirectory(prefix: "evently-pgbouncer")
        // PgBouncer refuses to run as root: as root it runs as `postgres`, which must read these.
        chmod(directory, 0o755)
        let users = directory + "/userlist.txt"
        try "\"\(user)\" \"\"\n".write(toFile: users, atomically: true, encoding: .utf8)
        let ini = directory + "/pgbouncer.ini"
        try """
            [databases]
            * = host=\(upstreamHost) port=\(upstreamPort)

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir =
            auth_type = trust
            auth_file = \(users)
            pool_mode = transaction
            default_pool_size = \(serverConnections)
            max_client_conn = 500
            server_reset_query =
            ignore_startup_parameters = extra_float_digits
            """.write(toFile: ini, atomically: true, encoding: .utf8)
        chmod(users, 0o644)
        chmod(ini, 0o644)
        let logPath = directory + "/stderr.log"
        let argv = geteuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", "/usr/sbin/pgbouncer", ini]
                                  : ["/usr/sbin/pgbouncer", ini]
        let running = try ChildProcesses.spawnServer(argv, stderrPath: logPath)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if canConnect(port: port) { return PgBouncerTestServer(port: port, logPath: logPath, running: running) }
            if !running.process.isRunning {
                ChildProcesses.terminate(running)
                throw TestServerError("pgbouncer exited before it listened on \(port)\n" + ChildProcesses.tail(of: logPath))
            }
            usleep(50_000)
        }
        ChildProcesses.terminate(running)
        throw TestServerError("pgbouncer did not listen on \(port) within 20 s\n" + ChildProcesses.tail(of: logPath))
    }

    /// A client configuration for `database` as `user` through PgBouncer.
    public func clientConfiguration(user: String, database: String) -> PostgresClient.Configuration {
        PostgresClient.Configuration(host: "127.0.0.1", port: port, username: user, password: nil, database: database, tls: .disable)
    }

    /// The `postgres://` URL of `database` through PgBouncer.
    public func url(user: String, database: String) -> String {
        "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    public func stop() {
        guard let running = process.withLock({ running in defer { running = nil }; return running }) else { return }
        ChildProcesses.terminate(running)
    }

    /// A port no one listens on, outside the range the kernel gives outgoing connections.
    static func freePortOutsideEphemeralRange() throws -> Int {
        for _ in 0..<200 {
            let candidate = Int.random(in: 20_000..<32_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            if withLoopbackAddress(port: candidate, { bind(fd, $0, $1) }) == 0 { return candidate }
        }
        throw TestServerError("no free port found between 20000 and 32000")
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withLoopbackAddress(port: port) { connect(fd, $0, $1) } == 0
    }
}

/// Calls `body` with 127.0.0.1:`port` as a `sockaddr` and its length (for bind and connect).
public func withLoopbackAddress(port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}
