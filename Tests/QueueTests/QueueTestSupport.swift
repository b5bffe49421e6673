import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Synchronization
import Testing

/// Shared helpers for the queue tests: SQL one-liners, polling, daemons and test workers.
enum QT {
    static let logger = TestDatabase.logger

    struct TimedOut: Error, CustomStringConvertible {
        var description: String
    }

    // MARK: SQL

    static func execute(_ query: PostgresQuery, on client: PostgresClient) async throws {
        try await client.query(query, logger: logger)
    }

    static func execute(sql: String, on client: PostgresClient) async throws {
        try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    /// The first column of the first row.
    static func scalar<T: PostgresDecodable & Sendable>(_ type: T.Type, _ query: PostgresQuery, on client: PostgresClient) async throws -> T {
        let rows = try await client.query(query, logger: logger)
        for try await value in rows.decode(T.self) { return value }
        throw TimedOut(description: "query returned no row: \(query.sql)")
    }

    static func count(_ query: PostgresQuery, on client: PostgresClient) async throws -> Int {
        try await scalar(Int.self, query, on: client)
    }

    /// Polls `condition` (a query returning one boolean) every 20 ms until it is true; throws
    /// (failing the test, with a snapshot of the jobs table) when `timeout` passes first.
    static func waitUntil(
        _ condition: PostgresQuery,
        on client: PostgresClient,
        timeout: Duration = .seconds(20),
        _ what: String = "",
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if try await scalar(Bool?.self, condition, on: client) == true { return }
            if ContinuousClock.now >= deadline {
                let snapshot = (try? await jobsSnapshot(on: client)) ?? "(no snapshot)"
                let message = "timed out after \(timeout) waiting for \(what.isEmpty ? condition.sql : what)\njobs:\n\(snapshot)"
                Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
                throw TimedOut(description: message)
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Polls an in-process condition every 20 ms.
    static func waitFor(
        _ what: String,
        timeout: Duration = .seconds(20),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            if ContinuousClock.now >= deadline {
                Issue.record("timed out after \(timeout) waiting for \(what)", sourceLocation: sourceLocation)
                throw TimedOut(description: "timed out waiting for \(what)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func jobsSnapshot(on client: PostgresClient) async throws -> String {
        let rows = try await client.query("""
            SELECT id::text || ' ' || kind || ' ' || state || ' attempt=' || attempt || '/' || max_attempts
                   || ' run_at-now=' || round(extract(epoch FROM run_at - now())::numeric, 3) || ' errors=' || errors::text
            FROM evently_jobs.jobs ORDER BY id LIMIT 20
            """, logger: logger)
        var lines: [String] = []
        for try await line in rows.decode(String.self) { lines.append(line) }
        return lines.joined(separator: "\n")
    }

    /// Waits until `id` is in `state`.
    static func waitForState(_ id: Int64, _ state: JobState, on client: PostgresClient, timeout: Duration = .seconds(20),
                             sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await waitUntil("SELECT state = \(state.rawValue) FROM evently_jobs.jobs WHERE id = \(id)", on: client,
                            timeout: timeout, "job \(id) to be \(state.rawValue)", sourceLocation: sourceLocation)
    }

    /// Waits until some session of this database holds the daemon's LISTEN.
    /// Matches the statement's start: with `'%listen%evently_jobs%'` this very poll, last run on
    /// another of the pool's connections, matched itself, and a test then found no LISTEN to kill.
    static func waitForListener(on client: PostgresClient, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await waitUntil("""
            SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                           WHERE datname = current_database() AND pid <> pg_backend_pid()
                             AND query ILIKE 'listen%evently_jobs%')
            """, on: client, "a daemon's LISTEN connection", sourceLocation: sourceLocation)
    }

    struct ErrorEntry: Sendable, Equatable {
        var attempt: Int?
        var kind: String?
        var error: String?
        var hasAt: Bool
    }

    /// The `errors` array of a job, read with SQL (independent of `JobRecord` decoding).
    static func errorEntries(_ id: Int64, on client: PostgresClient) async throws -> [ErrorEntry] {
        let rows = try await client.query("""
            SELECT (e->>'attempt')::int, e->>'kind', e->>'error', (e ? 'at' AND (e->>'at')::timestamptz IS NOT NULL)
            FROM evently_jobs.jobs, jsonb_array_elements(errors) WITH ORDINALITY AS x(e, n)
            WHERE id = \(id) ORDER BY n
            """, logger: logger)
        var entries: [ErrorEntry] = []
        for try await (attempt, kind, error, hasAt) in rows.decode((Int?, String?, String?, Bool).self) {
            entries.append(ErrorEntry(attempt: attempt, kind: kind, error: error, hasAt: hasAt))
        }
        return entries
    }

    struct Row: Sendable {
        var state: String
        var attempt: Int
        var maxAttempts: Int
        var finalized: Bool
        var errorCount: Int
    }

    static func row(_ id: Int64, on client: PostgresClient) async throws -> Row {
        let rows = try await client.query("""
            SELECT state, attempt, max_attempts, finalized_at IS NOT NULL, jsonb_array_length(errors)
            FROM evently_jobs.jobs WHERE id = \(id)
            """, logger: logger)
        for try await (state, attempt, maxAttempts, finalized, errors) in rows.decode((String, Int, Int, Bool, Int).self) {
            return Row(state: state, attempt: attempt, maxAttempts: maxAttempts, finalized: finalized, errorCount: errors)
        }
        throw TimedOut(description: "no job \(id)")
    }

    // MARK: Daemons

    /// A configuration for tests: queue "default" with 4 slots, a 100 ms poll, a unique worker name.
    static func configuration(_ modify: (inout JobDaemon.Configuration) -> Void = { _ in }) -> JobDaemon.Configuration {
        var configuration = JobDaemon.Configuration()
        configuration.queues = ["default": 4]
        configuration.pollInterval = .milliseconds(100)
        configuration.workerName = "test-\(UUID().uuidString.prefix(8))"
        modify(&configuration)
        return configuration
    }

    /// The diagnostic workers plus whatever `extra` registers.
    static func registry(_ extra: (inout WorkerRegistry) throws -> Void = { _ in }) throws -> WorkerRegistry {
        var registry = WorkerRegistry()
        try DiagnosticWorkers.register(in: &registry)
        try extra(&registry)
        return registry
    }

    static func daemon(_ client: PostgresClient, registry: WorkerRegistry, configuration: JobDaemon.Configuration) -> JobDaemon {
        JobDaemon(client: client, registry: registry, configuration: configuration, logger: logger)
    }

    /// Runs `daemon` in a child task while `body` runs, then stops it by cancelling that task.
    /// Callers end `body` with the daemon idle (every job they care about finished).
    static func withDaemon<T: Sendable>(_ daemon: JobDaemon, _ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run() }
            do {
                let result = try await body()
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}

// MARK: - Test workers

/// Records when each job started.
final class StartTimes: Sendable {
    private let starts = Mutex<[Int64: ContinuousClock.Instant]>([:])

    func record(_ id: Int64) { starts.withLock { $0[id] = ContinuousClock.now } }
    func start(of id: Int64) -> ContinuousClock.Instant? { starts.withLock { $0[id] } }
}

struct RecordPayload: JobPayload {
    static let kind = "test.record"
    var n: Int = 0
}

struct RecordWorker: JobWorker {
    let times: StartTimes
    func work(_ payload: RecordPayload, context: JobContext) async throws {
        times.record(context.jobID)
    }
}

/// Inserts its job id into the test table `runs` through the pool.
struct RunsPayload: JobPayload {
    static let kind = "test.runs"
}

struct RunsWorker: JobWorker {
    let client: PostgresClient
    func work(_ payload: RunsPayload, context: JobContext) async throws {
        try await client.query("INSERT INTO runs (job_id) VALUES (\(context.jobID))", logger: context.logger)
    }
}

/// Snoozes each job on its first run, succeeds on the next; counts runs per job.
final class RunCounter: Sendable {
    private let runs = Mutex<[Int64: Int]>([:])
    /// Returns the run number (1-based) of this job.
    func next(_ id: Int64) -> Int { runs.withLock { $0[id, default: 0] += 1; return $0[id]! } }
    func runs(of id: Int64) -> Int { runs.withLock { $0[id] ?? 0 } }
}

struct SnoozeOncePayload: JobPayload {
    static let kind = "test.snooze-once"
}

struct SnoozeOnceWorker: JobWorker {
    let counter: RunCounter
    func work(_ payload: SnoozeOncePayload, context: JobContext) async throws {
        if counter.next(context.jobID) == 1 { throw JobControl.snooze(.milliseconds(100)) }
    }
}

/// Throws `JobControl.cancel` or `.discard` with the given reason.
struct ControlPayload: JobPayload {
    static let kind = "test.control"
    var action: String
    var reason: String
}

struct ControlWorker: JobWorker {
    func work(_ payload: ControlPayload, context: JobContext) async throws {
        switch payload.action {
        case "cancel": throw JobControl.cancel(reason: payload.reason)
        case "discard": throw JobControl.discard(reason: payload.reason)
        default: return
        }
    }
}

/// Sleeps `ms`, recording when each job started and ended.
final class Timeline: Sendable {
    private let events = Mutex<(starts: [Int64: ContinuousClock.Instant], ends: [Int64: ContinuousClock.Instant])>(([:], [:]))
    func started(_ id: Int64) { events.withLock { $0.starts[id] = .now } }
    func ended(_ id: Int64) { events.withLock { $0.ends[id] = .now } }
    func start(of id: Int64) -> ContinuousClock.Instant? { events.withLock { $0.starts[id] } }
    func end(of id: Int64) -> ContinuousClock.Instant? { events.withLock { $0.ends[id] } }
    /// Job ids in the order they started.
    var startOrder: [Int64] { events.withLock { $0.starts.sorted { $0.value < $1.value }.map(\.key) } }
}

struct SlowPayload: JobPayload {
    static let kind = "test.slow"
    var ms: Int
}

struct SlowWorker: JobWorker {
    let timeline: Timeline
    func work(_ payload: SlowPayload, context: JobContext) async throws {
        timeline.started(context.jobID)
        defer { timeline.ended(context.jobID) }
        try await Task.sleep(for: .milliseconds(payload.ms))
    }
}

/// Every run of each job, as wall-clock intervals (comparable with the database's timestamps).
final class RunIntervals: Sendable {
    struct Run: Sendable, CustomStringConvertible {
        var start: Date
        var end: Date?
        var description: String { "\(start.timeIntervalSince1970)–\(end.map { "\($0.timeIntervalSince1970)" } ?? "running")" }
    }

    private let runs = Mutex<[Int64: [Run]]>([:])
    func started(_ id: Int64) { runs.withLock { $0[id, default: []].append(Run(start: Date())) } }
    func ended(_ id: Int64) {
        runs.withLock { runs in
            guard var list = runs[id], !list.isEmpty else { return }
            list[list.count - 1].end = Date()
            runs[id] = list
        }
    }
    func intervals(of id: Int64) -> [Run] { runs.withLock { $0[id] ?? [] } }
}

struct IntervalPayload: JobPayload {
    static let kind = "test.interval"
    var ms: Int
    /// How long the second and later attempts sleep (`ms` when nil).
    var laterMs: Int? = nil
}

/// Sleeps `ms` (`laterMs` after the first attempt), recording each run's start and end.
struct IntervalWorker: JobWorker {
    let runs: RunIntervals
    func work(_ payload: IntervalPayload, context: JobContext) async throws {
        runs.started(context.jobID)
        defer { runs.ended(context.jobID) }
        try await Task.sleep(for: .milliseconds(context.attempt > 1 ? payload.laterMs ?? payload.ms : payload.ms))
    }
}

/// Like ``IntervalWorker``, but the first attempt's sleep ignores cancellation, as a blocking
/// call does (libesmtp's session on its thread): it runs on after the daemon stopped it.
struct StubbornIntervalPayload: JobPayload {
    static let kind = "test.stubborn-interval"
    var firstMs: Int
    var laterMs: Int
}

struct StubbornIntervalWorker: JobWorker {
    let runs: RunIntervals
    /// When each job's stubborn first run really ended (long after it was told to stop).
    let staleEnds = StaleEnds()

    final class StaleEnds: Sendable {
        private let ends = Mutex<[Int64: Date]>([:])
        func record(_ id: Int64) { ends.withLock { $0[id] = Date() } }
        func end(of id: Int64) -> Date? { ends.withLock { $0[id] } }
    }
    func work(_ payload: StubbornIntervalPayload, context: JobContext) async throws {
        runs.started(context.jobID)
        defer { runs.ended(context.jobID) }
        if context.attempt == 1 {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(payload.firstMs)) { done.resume() }
            }
            staleEnds.record(context.jobID)
        } else {
            try await Task.sleep(for: .milliseconds(payload.laterMs))
        }
    }
}
