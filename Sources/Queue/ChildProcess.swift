import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A program started with `posix_spawnp`: the embedded PostgreSQL's tools, the daemons a
/// benchmark starts, the servers the tests start.
///
/// Plain `posix_spawn` and `waitpid` because Foundation's `Process` was seen missing the exit of
/// `runuser` here and waiting forever. The child starts with an empty signal mask and default
/// handlers for SIGTERM, SIGINT, SIGPIPE and SIGCHLD: Dispatch and NIO threads block signals,
/// and a child started from one of them would otherwise never see the SIGTERM that stops it.
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams is connected.
    public enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// A file: read from for standard input; created or truncated for output.
        case file(String)
        /// A descriptor of ours, duplicated into the child.
        case descriptor(Int32)
    }

    public let pid: pid_t
    public let executable: String
    /// Set once the exit was reaped: the pid may be reused after that.
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `arguments[0]` (looked up on PATH when it has no slash) with the rest as its
    /// arguments. Standard error goes where standard output goes unless `error` says otherwise.
    public init(_ arguments: [String], input: Stream = .null, output: Stream = .null, error: Stream? = nil) throws {
        guard let executable = arguments.first else { throw ChildProcessError(program: "", reason: "no program given") }
        self.executable = executable
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        Self.connect(input, to: 0, reading: true, &actions)
        Self.connect(output, to: 1, reading: false, &actions)
        if let error { Self.connect(error, to: 2, reading: false, &actions) } else { posix_spawn_file_actions_adddup2(&actions, 1, 2) }
        // Nothing else of ours leaks into the child: a test holding 2,000 sockets once left a
        // PostgreSQL it started with "insufficient file descriptors" (it counts what it inherits).
        _ = Self.addCloseFrom?(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var cArguments = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let failure = posix_spawnp(&pid, executable, &actions, &attributes, &cArguments, environ)
        guard failure == 0 else {
            let notOnPath = failure == ENOENT && !executable.contains("/")
            throw ChildProcessError(program: executable,
                                    reason: String(cString: strerror(failure)) + (notOnPath ? " (not found on PATH)" : ""))
        }
        self.pid = pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which the Glibc
    /// module does not export; nil where the C library lacks it.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    private static func connect(_ stream: Stream, to descriptor: Int32, reading: Bool,
                                _ actions: inout posix_spawn_file_actions_t) {
        switch stream {
        case .null:
            posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", reading ? O_RDONLY : O_WRONLY, 0)
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, descriptor, path,
                                             reading ? O_RDONLY : O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        case .descriptor(let source):
            posix_spawn_file_actions_adddup2(&actions, source, descriptor)
        }
    }

    /// The exit status once the child has exited (128 + signal number when a signal ended it);
    /// nil while it runs. Never blocks.
    public var exitCode: Int32? {
        exitStatus.withLock { recorded in
            if let recorded { return recorded }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid else { return nil }
            recorded = Self.decode(status)
            return recorded
        }
    }

    public var isRunning: Bool { exitCode == nil }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Blocks the calling thread until the child exits; returns its exit status.
    @discardableResult
    public func waitForExit() -> Int32 {
        exitStatus.withLock { recorded in
            if let recorded { return recorded }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            recorded = Self.decode(status)
            return recorded ?? -1
        }
    }

    /// Waits up to `timeout` for the exit without blocking a thread; nil if it still runs.
    public func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let code = exitCode { return code }
            guard ContinuousClock.now < deadline else { return nil }
            do { try await Task.sleep(for: .milliseconds(20)) } catch { return exitCode }
        }
    }

    /// SIGTERM, up to `timeout` for the exit, then SIGKILL; returns the exit status.
    @discardableResult
    public func terminate(within timeout: Duration) -> Int32 {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let code = exitCode { return code }
            usleep(10_000)
        }
        signal(SIGKILL)
        return waitForExit()
    }

    /// Runs a command to completion with standard output and error in a temporary file (a file,
    /// not a pipe: a server a tool launches may keep inherited descriptors open long after the
    /// tool exits). Returns the exit status and the output.
    public static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let outputPath = NSTemporaryDirectory() + "evently-child-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(outputPath) }
        let child = try ChildProcess(arguments, output: .file(outputPath))
        let status = child.waitForExit()
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    /// `run(_:)` on a thread of its own, so that the wait holds no thread of the async pool.
    public static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await onOwnThread { try ChildProcess.run(arguments) as (status: Int32, output: String) }
    }

    private static func decode(_ status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

/// A program could not be started.
public struct ChildProcessError: Error, CustomStringConvertible {
    public var program: String
    public var reason: String
    public var description: String { "cannot run \(program): \(reason)" }
}
