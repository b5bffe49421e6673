import Foundation
import Synchronization
import Logging
import PostgresNIO

/// A private PostgreSQL cluster in a local folder, run with the machine's `initdb` and `pg_ctl`.
///
/// The cluster listens only on a unix socket inside its folder (no TCP), so several clusters
/// never fight over a port; the folder is 0700 and only the daemon's OS user may connect
/// (peer authentication), so other local users can neither reach nor use it. PostgreSQL refuses to run as root: when we are root, the server binaries run as
/// the `postgres` system user, which is given the folder.
///
/// Ownership: the process that starts the server writes its pid to `owner.pid` and stops the
/// server in ``stop()``. A process that finds the server already running under a live owner
/// uses it and leaves it running; if the recorded owner is dead (a crashed daemon) it adopts it.
public final class EmbeddedPostgres: Sendable {
    /// The folder holding `data/`, `run/` (the socket) and `postgres.log`.
    public let directory: URL
    /// The superuser name created by `initdb`; only the daemon's OS user may connect as it.
    public let username: String
    /// Extra `postgresql.conf` settings passed at start (e.g. `fsync=off` for tests).
    public let settings: [String: String]
    let logger: Logger

    private let ownsServer = Mutex(false)

    public init(directory: URL, username: String = "evently", settings: [String: String] = [:], logger: Logger) {
        self.directory = directory.standardizedFileURL
        self.username = username
        self.settings = settings
        self.logger = logger
    }

    public var dataDirectory: URL { directory.appendingPathComponent("data") }
    public var logFile: URL { directory.appendingPathComponent("postgres.log") }
    var ownerFile: URL { directory.appendingPathComponent("owner.pid") }

    /// Where the socket lives: `run/` in the folder, mode 0700 and owned by the server's user.
    /// Unix socket paths are limited to 107 bytes, so for a deep folder ``start()`` makes a
    /// fresh folder with a random name under /tmp (`mkdtemp`, so no other user can have made
    /// it first) and records its path in `socket-dir`.
    public var socketDirectory: URL {
        let local = directory.appendingPathComponent("run")
        if local.path.utf8.count + 20 < 100 { return local }
        if let recorded = try? String(contentsOf: socketRecordFile, encoding: .utf8) {
            return URL(fileURLWithPath: recorded.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return local
    }

    var socketRecordFile: URL { directory.appendingPathComponent("socket-dir") }

    /// The path of the socket file itself.
    public var socketPath: String { socketDirectory.appendingPathComponent(".s.PGSQL.5432").path }

    /// A client configuration for `database` on this cluster.
    public func clientConfiguration(database: String = "postgres") -> PostgresClient.Configuration {
        PostgresClient.Configuration(unixSocketPath: socketPath, username: username, password: nil, database: database)
    }

    /// Whether the server answers `pg_ctl status`.
    public func isRunning() throws -> Bool {
        guard FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) else {
            return false
        }
        return try run(tool: "pg_ctl", ["status", "-D", dataDirectory.path], allowFailure: true) == 0
    }

    /// Creates the cluster on first use, starts it unless it runs already, and waits until it
    /// accepts connections.
    ///
    /// - Returns: `true` when this call created the cluster (first use of the folder).
    /// - Throws: ``EmbeddedPostgresError`` naming what is missing or what failed, with the log's tail.
    @discardableResult
    public func start() throws -> Bool {
        let fileManager = FileManager.default
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o700)
        try prepareSocketDirectory()
        try handOverToServerUser(directory)
        try handOverToServerUser(socketDirectory)

        var created = false
        if !fileManager.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            logger.info("creating embedded PostgreSQL cluster", metadata: ["directory": "\(dataDirectory.path)"])
            try run(tool: "initdb", [
                "-D", dataDirectory.path, "-U", username, "--auth-local=peer", "--auth-host=reject",
                "--encoding=UTF8", "--no-instructions",
            ])
            created = true
        }

        if try isRunning() {
            let owner = (try? String(contentsOf: ownerFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if let owner, owner != getpid(), kill(owner, 0) == 0 {
                logger.info("using embedded PostgreSQL started by process \(owner)", metadata: ["directory": "\(directory.path)"])
                return created
            }
            logger.info("adopting running embedded PostgreSQL", metadata: ["directory": "\(directory.path)"])
        } else {
            try writeAuthentication()
            var options = ["-k \(socketDirectory.path)", "-c listen_addresses=''", "-c unix_socket_permissions=0700", "-p 5432"]
            for (key, value) in settings.sorted(by: { $0.key < $1.key }) { options.append("-c \(key)=\(value)") }
            try run(tool: "pg_ctl", [
                "start", "-w", "-t", "60", "-D", dataDirectory.path, "-l", logFile.path, "-o", options.joined(separator: " "),
            ])
        }
        try "\(getpid())\n".write(to: ownerFile, atomically: true, encoding: .utf8)
        ownsServer.withLock { $0 = true }
        return created
    }

    /// `start()` on a thread of its own (`initdb` and `pg_ctl` are waited for by blocking).
    @discardableResult
    public func start() async throws -> Bool {
        try await onOwnThread { try self.start() as Bool }
    }

    /// Stops the server if this process started or adopted it; otherwise leaves it for its owner.
    public func stop() throws {
        guard ownsServer.withLock({ owns in defer { owns = false }; return owns }) else { return }
        guard try isRunning() else { return }
        try run(tool: "pg_ctl", ["stop", "-w", "-t", "60", "-m", "fast", "-D", dataDirectory.path])
        try? FileManager.default.removeItem(at: ownerFile)
        if socketDirectory != directory.appendingPathComponent("run") {
            // The random /tmp folder of a deep cluster folder; the next start makes a new one.
            try? FileManager.default.removeItem(at: socketDirectory)
            try? FileManager.default.removeItem(at: socketRecordFile)
        }
        logger.info("stopped embedded PostgreSQL", metadata: ["directory": "\(directory.path)"])
    }

    // MARK: - Access

    /// The OS user the daemon runs as: the one peer authentication lets in.
    static var clientUserName: String {
        guard let account = getpwuid(geteuid()) else { return "root" }
        return String(cString: account.pointee.pw_name)
    }

    /// Only the daemon's own OS user may connect, over the socket, as ``username`` (peer
    /// authentication through a one-line ident map); no TCP, no password, no other local user.
    /// Written before every start, so a cluster made by an older version (trust) is closed too.
    func writeAuthentication() throws {
        let hba = """
            # Written by evently-jobs at every start: only the daemon's OS user, over the socket.
            local all \(username) peer map=evently

            """
        let ident = """
            # Written by evently-jobs at every start.
            evently \(Self.clientUserName) \(username)

            """
        for (name, text) in [("pg_hba.conf", hba), ("pg_ident.conf", ident)] {
            let url = dataDirectory.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            chmod(url.path, 0o600)
            try handOverToServerUser(url)
        }
    }

    /// Makes the socket folder: `run/` inside the (0700) cluster folder, or a fresh `mkdtemp`
    /// folder under /tmp when that path is too long for a socket; either is mode 0700.
    func prepareSocketDirectory() throws {
        let local = directory.appendingPathComponent("run")
        if local.path.utf8.count + 20 < 100 {
            try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
            chmod(local.path, 0o700)
            return
        }
        let current = socketDirectory
        if current != local, Self.isPrivateFolder(current.path) { return }
        var template = Array("/tmp/evently-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw EmbeddedPostgresError.socketFolder(String(cString: strerror(errno))) }
        let path = String(cString: made)
        try path.write(to: socketRecordFile, atomically: true, encoding: .utf8)
    }

    /// A real folder (not a link) of mode 0700 owned by us or the server's user.
    static func isPrivateFolder(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, info.st_mode & 0o077 == 0 else { return false }
        let serverUID = isRoot ? getpwnam("postgres")?.pointee.pw_uid : geteuid()
        return info.st_uid == geteuid() || info.st_uid == serverUID
    }

    // MARK: - Processes

    static var isRoot: Bool { geteuid() == 0 }

    /// Gives `url` to the `postgres` user when we are root; the server cannot start otherwise.
    func handOverToServerUser(_ url: URL) throws {
        guard Self.isRoot else { return }
        guard let account = getpwnam("postgres") else {
            throw EmbeddedPostgresError.missingServerUser
        }
        let uid = account.pointee.pw_uid, gid = account.pointee.pw_gid
        let enumerator = FileManager.default.enumerator(atPath: url.path)
        chown(url.path, uid, gid)
        while let relative = enumerator?.nextObject() as? String {
            chown(url.appendingPathComponent(relative).path, uid, gid)
        }
    }

    /// Finds a PostgreSQL server tool on PATH or under /usr/lib/postgresql/<newest>/bin.
    public static func locate(_ tool: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        var candidates = path.split(separator: ":").map { "\($0)/\(tool)" }
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            candidates.append("/usr/lib/postgresql/\(version)/bin/\(tool)")
        }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw EmbeddedPostgresError.toolNotFound(tool)
        }
        return found
    }

    @discardableResult
    func run(tool: String, _ arguments: [String], allowFailure: Bool = false) throws -> Int32 {
        let executable = try Self.locate(tool)
        let argv = Self.isRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--", executable] + arguments : [executable] + arguments
        let status: Int32, output: String
        do {
            (status, output) = try ChildProcess.run(argv)
        } catch let error as ChildProcessError {
            throw EmbeddedPostgresError.toolFailed(tool: argv[0], arguments: Array(argv.dropFirst()), status: -1,
                                                   output: error.reason)
        }
        if status != 0 && !allowFailure {
            let logTail = (try? String(contentsOf: logFile, encoding: .utf8))?
                .split(separator: "\n").suffix(10).joined(separator: "\n") ?? ""
            throw EmbeddedPostgresError.toolFailed(
                tool: tool, arguments: arguments, status: status, output: output + (logTail.isEmpty ? "" : "\n" + logTail))
        }
        return status
    }
}

/// Why the embedded cluster could not be used.
public enum EmbeddedPostgresError: Error, CustomStringConvertible {
    case toolNotFound(String)
    case missingServerUser
    case socketFolder(String)
    case toolFailed(tool: String, arguments: [String], status: Int32, output: String)

    public var description: String {
        switch self {
        case .toolNotFound(let tool):
            return "PostgreSQL's \(tool) was not found on PATH or in /usr/lib/postgresql/*/bin; "
                + "install the server (apt-get install postgresql) or set database.url in jobs.conf"
        case .missingServerUser:
            return "running as root, the embedded PostgreSQL needs the 'postgres' system user "
                + "(apt-get install postgresql creates it) or set database.url in jobs.conf"
        case .socketFolder(let reason):
            return "cannot make a private socket folder under /tmp: \(reason)"
        case let .toolFailed(tool, arguments, status, output):
            return "\(tool) \(arguments.joined(separator: " ")) exited with \(status):\n\(output)"
        }
    }
}
