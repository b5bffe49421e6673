import Dispatch
import Foundation
import Queue
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A real SMTP server for tests: `smtp_sink.py` (aiosmtpd) run as a child process on 127.0.0.1.
///
/// Every accepted message is appended to a spool file that ``messages()`` reads. The server can
/// require AUTH (PLAIN/LOGIN, offered without TLS), refuse recipients at one domain with `550`,
/// and answer the first N `DATA` commands with `451`, so the email worker's permanent and
/// temporary failures can be tested against a real protocol peer.
///
/// The Python interpreter is `EVENTLY_TEST_PYTHON` when set; otherwise a virtualenv at
/// `<package>/.build/evently-test-venv`, created with aiosmtpd on first use. When anything is
/// missing, ``start(port:authUser:authPassword:rejectRecipientDomain:tempfailCount:)`` throws
/// an error saying what: tests are never skipped.
///
/// Servers still running when the process exits are terminated then; they also exit on their
/// own when this process dies, since they watch a socket whose other end only this process holds.
public final class SMTPTestServer: Sendable {
    /// The host the server listens on.
    public let host = "127.0.0.1"
    /// The TCP port the server listens on.
    public let port: Int
    /// The JSON-lines file accepted messages are appended to.
    public let spoolPath: String
    /// The file the server's standard error goes to.
    public let logPath: String

    private let process: Mutex<RunningSink?>

    struct RunningSink: Sendable {
        let process: ChildProcess
        /// Our end of the socket pair that is the child's stdin and stdout: READY is read from
        /// it, and the child exits when it is closed.
        let controlFD: Int32
    }

    private init(port: Int, spoolPath: String, logPath: String, running: RunningSink) {
        self.port = port
        self.spoolPath = spoolPath
        self.logPath = logPath
        self.process = Mutex(running)
    }

    deinit {
        stop()
    }

    /// Starts a server and waits until it listens.
    ///
    /// - Parameters:
    ///   - port: The port to listen on; 0 picks a free one. Starting again on the port of a
    ///     stopped server works (for "the server was down, now it is back" tests).
    ///   - authUser: With `authPassword`, AUTH PLAIN/LOGIN is offered without TLS and required:
    ///     `MAIL` before a successful AUTH gets `530`, a wrong password `535`.
    ///   - rejectRecipientDomain: `RCPT TO` an address at this domain gets `550 5.1.1`.
    ///   - tempfailCount: The first this-many `DATA` commands get `451 4.3.0`.
    /// - Throws: ``TestServerError`` when Python or aiosmtpd cannot be set up, or the server does
    ///   not print `READY <port>` within 20 seconds (the message includes its standard error).
    public static func start(
        port: Int = 0,
        authUser: String? = nil,
        authPassword: String? = nil,
        rejectRecipientDomain: String? = nil,
        tempfailCount: Int = 0,
        tls: TestTLS? = nil,
        dataReplyDelay: Duration = .zero
    ) async throws -> SMTPTestServer {
        precondition((authUser == nil) == (authPassword == nil), "authUser and authPassword go together")
        return try await runBlocking {
            let python = try TestPython.interpreter()
            let script = try sinkScriptPath()
            let directory = try ChildProcesses.makeScratchDirectory(prefix: "evently-smtp")
            let spoolPath = directory + "/spool.jsonl"
            let logPath = directory + "/stderr.log"
            var arguments = [script, "--port", String(port), "--spool", spoolPath, "--exit-on-stdin-eof"]
            if let authUser, let authPassword {
                arguments += ["--auth-user", authUser, "--auth-password", authPassword]
            }
            if let rejectRecipientDomain { arguments += ["--reject-rcpt-domain", rejectRecipientDomain] }
            if tempfailCount > 0 { arguments += ["--tempfail-count", String(tempfailCount)] }
            if dataReplyDelay > .zero {
                arguments += ["--data-reply-delay", String(Double(dataReplyDelay.components.seconds) + Double(dataReplyDelay.components.attoseconds) / 1e18)]
            }
            if let tls {
                arguments += ["--tls-cert", tls.certificatePath, "--tls-key", tls.keyPath,
                              "--tls-mode", tls.implicit ? "implicit" : "starttls"]
            }

            let running = try ChildProcesses.spawnServer([python] + arguments, stderrPath: logPath)
            do {
                let line = try ChildProcesses.readLine(from: running.controlFD, timeout: .seconds(20))
                guard let line, line.hasPrefix("READY "), let actual = Int(line.dropFirst("READY ".count)) else {
                    throw TestServerError(
                        "the SMTP test server (\(python) smtp_sink.py) "
                            + (line.map { "printed \"\($0)\" instead of READY <port>" } ?? "exited before it was ready")
                            + "\n" + ChildProcesses.tail(of: logPath))
                }
                return SMTPTestServer(port: actual, spoolPath: spoolPath, logPath: logPath, running: running)
            } catch let error as ChildProcesses.ReadTimeout {
                ChildProcesses.terminate(running)
                throw TestServerError(
                    "the SMTP test server (\(python) smtp_sink.py) did not print READY within \(error.timeout)\n"
                        + ChildProcesses.tail(of: logPath))
            } catch {
                ChildProcesses.terminate(running)
                throw error
            }
        }
    }

    /// Stops the server (SIGTERM, then waits for it to exit). Safe to call more than once; the
    /// spool stays readable.
    public func stop() {
        guard let running = process.withLock({ running in defer { running = nil }; return running }) else { return }
        ChildProcesses.terminate(running)
    }

    /// Whether the server runs (was started and not stopped).
    public var isRunning: Bool { process.withLock { $0 != nil } }

    /// The messages accepted so far, oldest first.
    public func messages() throws -> [ReceivedMail] {
        guard let data = FileManager.default.contents(atPath: spoolPath) else { return [] }
        let decoder = JSONDecoder()
        var mails: [ReceivedMail] = []
        // Only complete lines: a message still being appended has no newline yet.
        var start = data.startIndex
        while let newline = data[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = data[start..<newline]
            start = data.index(after: newline)
            guard !line.isEmpty else { continue }
            mails.append(try decoder.decode(ReceivedMail.self, from: Data(line)))
        }
        return mails
    }

    /// Waits until at least `count` messages were accepted and returns them all.
    ///
    /// - Throws: ``TestServerError`` after `timeout`, saying how many arrived.
    @discardableResult
    public func waitForMessages(count: Int, timeout: Duration = .seconds(10)) async throws -> [ReceivedMail] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let mails = try messages()
            if mails.count >= count { return mails }
            if ContinuousClock.now >= deadline {
                throw TestServerError(
                    "expected \(count) message(s) at the SMTP test server within \(timeout), got \(mails.count)"
                        + mails.map { "\n- from \($0.from) to \($0.recipients): \($0.subject ?? "(no subject)")" }.joined())
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Waits until sessions reached the end of `DATA` `count` times (counted when the server
    /// receives it, before any `dataReplyDelay` and whatever it then answers).
    ///
    /// - Throws: ``TestServerError`` after `timeout`, saying how many arrived.
    public func waitForEndsOfData(count: Int, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let received = FileManager.default.contents(atPath: spoolPath + ".data-ends")
                .map { $0.lazy.filter { $0 == UInt8(ascii: "\n") }.count } ?? 0
            if received >= count { return }
            if ContinuousClock.now >= deadline {
                throw TestServerError(
                    "expected \(count) end(s) of DATA at the SMTP test server within \(timeout), got \(received)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func sinkScriptPath() throws -> String {
        if let url = Bundle.module.url(forResource: "smtp_sink", withExtension: "py") { return url.path }
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_sink.py").path
        guard FileManager.default.fileExists(atPath: source) else {
            throw TestServerError("smtp_sink.py is neither in the EventlyTestSupport resources nor at \(source)")
        }
        return source
    }
}

/// One message the SMTP test server accepted.
public struct ReceivedMail: Sendable, Hashable, Decodable {
    /// The envelope sender (`MAIL FROM`).
    public let from: String
    /// The envelope recipients that were accepted (`RCPT TO`).
    public let recipients: [String]
    /// The message as sent after `DATA` (headers, blank line, body), with its CRLF line ends.
    public let data: String
    /// The user that authenticated for this message, when the server required AUTH.
    public let authenticatedUser: String?
    /// Which connection carried the message: connections are numbered from 1 in the order of
    /// their first message.
    public var session: Int?

    enum CodingKeys: String, CodingKey {
        case from = "mail_from"
        case recipients = "rcpt_tos"
        case data
        case authenticatedUser = "auth_user"
        case session
    }

    public init(from: String, recipients: [String], data: String, authenticatedUser: String? = nil) {
        self.from = from
        self.recipients = recipients
        self.data = data
        self.authenticatedUser = authenticatedUser
    }

    /// `data` with `\n` line ends.
    private var normalized: String { data.replacingOccurrences(of: "\r\n", with: "\n") }

    /// The header lines, folded continuation lines joined to their header.
    public var headers: [(name: String, value: String)] {
        var result: [(name: String, value: String)] = []
        for line in normalized.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            if let first = line.first, first == " " || first == "\t", !result.isEmpty {
                result[result.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces)
            } else if let colon = line.firstIndex(of: ":") {
                result.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }
        return result
    }

    /// The value of the first header named `name` (case-insensitive), unfolded.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The `Subject` header.
    public var subject: String? { header("Subject") }

    /// The text after the first blank line, with `\n` line ends. No transfer decoding is done:
    /// the messages are expected to be plain 8bit text.
    public var body: String {
        let text = normalized
        if text.hasPrefix("\n") { return String(text.dropFirst()) }
        guard let separator = text.range(of: "\n\n") else { return "" }
        return String(text[separator.upperBound...])
    }

    public static func == (lhs: ReceivedMail, rhs: ReceivedMail) -> Bool {
        lhs.from == rhs.from && lhs.recipients == rhs.recipients && lhs.data == rhs.data
            && lhs.authenticatedUser == rhs.authenticatedUser
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(from)
        hasher.combine(recipients)
        hasher.combine(data)
        hasher.combine(authenticatedUser)
    }
}

/// Why a test server could not be started or did not see what was expected.
public struct TestServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work (spawning, waiting on the child, building the virtualenv) off the
/// concurrency pool's few threads.
func runBlocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}

// MARK: - Python

/// The Python that runs `smtp_sink.py`.
enum TestPython {
    static let aiosmtpdRequirement = "aiosmtpd==1.4.6"
    /// The console's browser test drives the system Chromium (Debian's) with it.
    static let seleniumRequirement = "selenium==4.38.0"
    /// What the test virtualenv holds; its marker file names them, so a change rebuilds it.
    static let requirements = [aiosmtpdRequirement, seleniumRequirement]
    private static let cached = Mutex<Result<String, any Error>?>(nil)

    /// The package's root folder, three levels above this file.
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var venvDirectory: URL {
        packageRoot.appendingPathComponent(".build").appendingPathComponent("evently-test-venv")
    }

    /// `EVENTLY_TEST_PYTHON`, or the package's test virtualenv, created on first use.
    static func interpreter() throws -> String {
        if let configured = ProcessInfo.processInfo.environment["EVENTLY_TEST_PYTHON"], !configured.isEmpty {
            guard !configured.contains("/") || FileManager.default.isExecutableFile(atPath: configured) else {
                throw TestServerError("EVENTLY_TEST_PYTHON is \(configured), which is not an executable file")
            }
            return configured
        }
        return try cached.withLock { state in
            if let state { return try state.get() }
            let result = Result { try ensureVirtualenv() }
            state = result
            return try result.get()
        }
    }

    /// Creates the virtualenv with aiosmtpd unless a complete one exists. Test processes running
    /// at the same time take turns through a lock file, so only the first builds it.
    static func ensureVirtualenv() throws -> String {
        let fileManager = FileManager.default
        let venv = venvDirectory
        let python = venv.appendingPathComponent("bin").appendingPathComponent("python").path
        let marker = venv.appendingPathComponent("evently-ready").path
        let isComplete = {
            fileManager.isExecutableFile(atPath: python)
                && (try? String(contentsOfFile: marker, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                    == requirements.joined(separator: " ")
        }
        if isComplete() { return python }

        try fileManager.createDirectory(at: venv.deletingLastPathComponent(), withIntermediateDirectories: true)
        let lockPath = venv.path + ".lock"
        let lock = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard lock >= 0 else {
            throw TestServerError("cannot open \(lockPath) to build the test virtualenv: \(String(cString: strerror(errno)))")
        }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else {
                throw TestServerError("cannot lock \(lockPath): \(String(cString: strerror(errno)))")
            }
        }
        defer { flock(lock, LOCK_UN) }
        if isComplete() { return python }  // another process built it while we waited

        try? fileManager.removeItem(at: venv)
        let advice = "The SMTP test server needs Python 3 with venv and pip (Debian: apt-get install python3-venv), "
            + "or EVENTLY_TEST_PYTHON set to a python that has \(requirements.joined(separator: " "))."
        let created: (status: Int32, output: String)
        do {
            created = try ChildProcesses.runToCompletion(["python3", "-m", "venv", venv.path])
        } catch {
            throw TestServerError("creating the test virtualenv failed: \(error)\n" + advice)
        }
        guard created.status == 0 else {
            try? fileManager.removeItem(at: venv)
            throw TestServerError(
                "creating the test virtualenv failed: python3 -m venv \(venv.path) exited with \(created.status)\n"
                    + created.output + "\n" + advice)
        }
        let installed = try ChildProcesses.runToCompletion([
            python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        ] + requirements)
        guard installed.status == 0 else {
            try? fileManager.removeItem(at: venv)
            throw TestServerError(
                "installing \(requirements.joined(separator: " ")) into the test virtualenv failed: pip exited with \(installed.status)\n"
                    + installed.output.split(separator: "\n").suffix(30).joined(separator: "\n") + "\n" + advice)
        }
        try (requirements.joined(separator: " ") + "\n").write(toFile: marker, atomically: true, encoding: .utf8)
        return python
    }
}

// MARK: - Child processes

/// The test servers' child processes (``ChildProcess``), and stopping the ones left at exit.
enum ChildProcesses {
    struct ReadTimeout: Error { let timeout: Duration }

    private struct Registry {
        var servers: [pid_t: ChildProcess] = [:]
        var scratchDirectories: [String] = []
        var registeredAtExit = false
    }

    private static let registry = Mutex(Registry())
    private static let counter = Atomic<Int>(0)

    private static func registerAtExitOnce(_ state: inout Registry) {
        guard !state.registeredAtExit else { return }
        state.registeredAtExit = true
        atexit { ChildProcesses.cleanUpAtExit() }
    }

    static func cleanUpAtExit() {
        let (servers, directories) = registry.withLock { (Array($0.servers.values), $0.scratchDirectories) }
        for server in servers { server.signal(SIGTERM) }
        for server in servers { server.terminate(within: .seconds(3)) }
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// A fresh folder under the temp directory, removed at exit.
    static func makeScratchDirectory(prefix: String) throws -> String {
        let path = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(counter.wrappingAdd(1, ordering: .relaxed).newValue)"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        registry.withLock { state in
            registerAtExitOnce(&state)
            state.scratchDirectories.append(path)
        }
        return path
    }

    /// A connected pair of sockets that are closed in any other child we spawn (close-on-exec
    /// set atomically, unlike `pipe()` + `fcntl`), so that only the intended child holds its end.
    static func makeSocketPair() throws -> (parent: Int32, child: Int32) {
        var fds: [Int32] = [-1, -1]
        #if canImport(Glibc)
        let result = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        #else
        let result = socketpair(AF_UNIX, SOCK_STREAM, 0, &fds)
        if result == 0 {
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        }
        #endif
        guard result == 0 else { throw TestServerError("socketpair() failed: \(String(cString: strerror(errno)))") }
        return (fds[0], fds[1])
    }

    /// Starts a long-running server whose stdin and stdout are one end of a socket pair: we read
    /// its READY line from our end, and closing our end is its signal to exit (the lifeline,
    /// which also closes when this process dies). Its stderr goes to the file at `stderrPath`.
    static func spawnServer(_ argv: [String], stderrPath: String) throws -> SMTPTestServer.RunningSink {
        let pair = try makeSocketPair()
        let process: ChildProcess
        do {
            process = try registry.withLock { state -> ChildProcess in
                let process = try ChildProcess(argv, input: .descriptor(pair.child), output: .descriptor(pair.child),
                                               error: .file(stderrPath))
                registerAtExitOnce(&state)
                state.servers[process.pid] = process
                return process
            }
        } catch {
            close(pair.parent)
            close(pair.child)
            throw error
        }
        close(pair.child)
        return .init(process: process, controlFD: pair.parent)
    }

    /// SIGTERM, wait up to 10 s for the exit (then SIGKILL), and close our end of its socket.
    static func terminate(_ running: SMTPTestServer.RunningSink) {
        running.process.terminate(within: .seconds(10))
        registry.withLock { _ = $0.servers.removeValue(forKey: running.process.pid) }
        close(running.controlFD)
    }

    /// Reads one line (without its newline) from `fd`; nil at end of file.
    static func readLine(from fd: Int32, timeout: Duration) throws -> String? {
        let deadline = ContinuousClock.now + timeout
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 512)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                return String(decoding: buffer[..<newline], as: UTF8.self)
            }
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw ReadTimeout(timeout: timeout) }
            let milliseconds = Int32(clamping: remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw TestServerError("poll() failed: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw TestServerError("read() failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 {
                return buffer.isEmpty ? nil : String(decoding: buffer, as: UTF8.self)
            }
            buffer += chunk[..<count]
        }
    }

    /// The last lines of a log file, for error messages.
    static func tail(of path: String, lines: Int = 30) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), !text.isEmpty else {
            return "(its standard error was empty)"
        }
        return "its standard error:\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Runs a command (looked up on PATH) to completion, stdout and stderr into a temporary file.
    static func runToCompletion(_ argv: [String]) throws -> (status: Int32, output: String) {
        try ChildProcess.run(argv)
    }
}
