import Foundation
import Logging
import PostgresNIO

extension JobClient {
    /// Per-queue counts; finished jobs are counted over the last `recentWindow`, so the cost
    /// stays small however much history the table holds.
    public func status(recentWindow: Duration = .seconds(300)) async throws -> [QueueStatus] {
        let windowSeconds = Int(recentWindow.timeInterval)
        return try await withConnection { [logger] connection in
            var byQueue: [String: QueueStatus] = [:]
            func entry(_ queue: String) -> QueueStatus {
                byQueue[queue] ?? QueueStatus(queue: queue, paused: false, counts: [:], oldestDueAgeSeconds: nil,
                                              completedRecently: 0, recentWindowSeconds: windowSeconds)
            }
            for row in try await JobQueries.unfinishedGroups(on: connection, logger: logger) {
                var status = entry(row.queue)
                if let parsed = JobState(rawValue: row.state) { status.counts[parsed, default: 0] += row.count }
                if let oldest = row.oldestDueAge { status.oldestDueAgeSeconds = max(status.oldestDueAgeSeconds ?? 0, oldest) }
                if row.withoutLiveWorker { status.withoutLiveWorker[row.kind, default: 0] += row.count }
                byQueue[row.queue] = status
            }
            for row in try await JobQueries.recentlyFinishedCounts(windowSeconds: windowSeconds, on: connection, logger: logger) {
                guard let parsed = JobState(rawValue: row.state) else { continue }
                var status = entry(row.queue)
                status.counts[parsed] = row.count
                if parsed == .completed { status.completedRecently = row.count }
                byQueue[row.queue] = status
            }
            for row in try await JobQueries.queuePauses(on: connection, logger: logger) {
                var status = entry(row.queue)
                status.paused = row.paused
                byQueue[row.queue] = status
            }
            return byQueue.values.sorted { $0.queue < $1.queue }
        }
    }

    /// The daemons whose heartbeat is current, oldest first.
    public func daemons() async throws -> [DaemonRecord] {
        try await withConnection { [logger] in try await JobQueries.liveDaemons(on: $0, logger: logger) }
    }

    /// Jobs matching the filters, newest first.
    public func list(state: JobState? = nil, kind: String? = nil, queue: String? = nil, limit: Int = 50) async throws -> [JobRecord] {
        try await withConnection { [logger] connection in
            try await JobQueries.records(state: state, kind: kind, queue: queue, limit: limit, on: connection, logger: logger)
        }
    }

    /// One job with its error history.
    /// - Throws: ``QueueError/jobNotFound(_:)``.
    public func job(id: Int64) async throws -> JobRecord {
        try await withConnection { [logger] connection in
            guard let record = try await JobQueries.record(id: id, on: connection, logger: logger) else {
                throw QueueError.jobNotFound(id)
            }
            return record
        }
    }

    /// Makes a retryable, discarded or cancelled job run again now, with fresh attempts if it had
    /// run out. A running or completed job is refused.
    public func retry(id: Int64) async throws -> JobRecord {
        try await change(id: id, action: "retried", allowedFrom: [.retryable, .discarded, .cancelled, .scheduled, .available]) {
            try await JobQueries.retryNow(id: id, on: $0, logger: logger)
        }
    }

    /// Cancels a job that has not finished. A running job is marked cancelled at once; its
    /// daemon's late report is ignored.
    public func cancel(id: Int64) async throws -> JobRecord {
        try await change(id: id, action: "cancelled", allowedFrom: JobState.unfinished) {
            try await JobQueries.cancelByOperator(id: id, on: $0, logger: logger)
        }
    }

    /// Pauses or resumes claiming from `queue` on every daemon.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try await withConnection { [logger] connection in
            try await JobQueries.setPaused(paused, queue: queue, on: connection, logger: logger)
            if !paused { try await JobQueries.notify(queues: [queue], on: connection, logger: logger) }
        }
    }

    /// Runs `update` on a job locked in a transaction, if its state allows the action, and
    /// wakes its queue; returns the job as it is afterwards.
    private func change(id: Int64, action: String, allowedFrom: [JobState],
                        _ update: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws -> JobRecord {
        try await withConnection { [logger] connection in
            // The lock waits for a daemon writing the job; when that write moved the row to
            // another partition (the job finished), the transaction fails and is run again.
            try await JobQueries.retryingMovedRows {
                try await connection.transaction(logger: logger) { connection in
                    guard let current = try await JobQueries.lockForChange(id: id, on: connection, logger: logger) else {
                        throw QueueError.jobNotFound(id)
                    }
                    guard allowedFrom.contains(current.state) else {
                        throw QueueError.invalidState(id: id, state: current.state, action: action)
                    }
                    try await update(connection)
                    try await JobQueries.notify(queues: [current.queue], on: connection, logger: logger)
                }
            }
            guard let record = try await JobQueries.record(id: id, on: connection, logger: logger) else {
                throw QueueError.jobNotFound(id)
            }
            return record
        }
    }
}

// MARK: Operators' console

extension JobClient {
    /// One page of the jobs matching `filter`, newest first, with ids below `before` (the last
    /// id of the previous page: a keyset, so jobs enqueued meanwhile shift nothing).
    ///
    /// Most filters walk an index in id order and stop after `limit` rows; text and last-error
    /// filters are checked on each row the walk reads, so a text found nowhere reads the whole
    /// range. The server stops such a statement at the client's deadline rather than working on
    /// for a caller that gave up.
    public func jobs(matching filter: JobFilter, before: Int64? = nil, limit: Int = 50) async throws -> [JobRecord] {
        try await boundedRead { [logger] connection in
            try await JobQueries.records(matching: filter, before: before, limit: limit, on: connection, logger: logger)
        }
    }

    /// A page of ``page(matching:before:limit:)``: the jobs found, and where the search goes on
    /// when it stopped at its time budget before `limit` jobs (ids below `continueBelow`).
    public struct JobPage: Sendable {
        public var jobs: [JobRecord]
        public var continueBelow: Int64?
    }

    /// Ids a text search reads per statement, and how long one request may search: a text
    /// (`q`) has no index, so each row is read; with millions of finished jobs a search of all
    /// history takes tens of seconds, so one request searches what it can in the budget and
    /// says where to go on (BENCHMARKS.md, `bench console`).
    public static let textSearchWindow: Int64 = 10_000
    public static let textSearchBudget: Duration = .milliseconds(80)

    /// Like ``jobs(matching:before:limit:)``; a text search (`filter.text`) reads history window
    /// by window, newest first, for at most ``textSearchBudget``, and returns fewer than `limit`
    /// jobs with `continueBelow` when it stopped before the oldest job.
    public func page(matching filter: JobFilter, before: Int64? = nil, limit: Int = 50) async throws -> JobPage {
        guard filter.text != nil else { return JobPage(jobs: try await jobs(matching: filter, before: before, limit: limit)) }
        return try await boundedRead { [logger] connection in
            guard let ids = try await JobQueries.idRange(on: connection, logger: logger) else { return JobPage(jobs: []) }
            var found: [JobRecord] = []
            let stoppedAt = try await Self.searchWindows(of: ids, below: before) { window in
                found += try await JobQueries.records(matching: filter, before: window.upperBound, from: window.lowerBound,
                                                      limit: limit - found.count, on: connection, logger: logger)
                return found.count < limit
            }
            return JobPage(jobs: found, continueBelow: found.count < limit ? stoppedAt : nil)
        }
    }

    /// Walks the ids of `ids` below `before` (all of them without it) newest first, one
    /// ``textSearchWindow`` at a time, while `body` asks for more and for at most
    /// ``textSearchBudget`` (at least one window, so every request moves a search on). Returns
    /// the id the walk stopped above, or `nil` when it reached the oldest job.
    private static func searchWindows(of ids: ClosedRange<Int64>, below before: Int64?,
                                      _ body: (Range<Int64>) async throws -> Bool) async throws -> Int64? {
        let started = ContinuousClock.now
        var upper = min(before ?? ids.upperBound + 1, ids.upperBound + 1)
        var windows = 0
        while upper > ids.lowerBound {
            if windows > 0 && ContinuousClock.now - started >= textSearchBudget { return upper }
            windows += 1
            let lower = max(upper - textSearchWindow, ids.lowerBound)
            let wantsMore = try await body(lower..<upper)
            upper = lower
            if !wantsMore { return upper > ids.lowerBound ? upper : nil }
        }
        return nil
    }

    /// How many jobs match `filter`, counted up to `cap`; `capped` says there are more. A text
    /// search counts window by window, newest first, for at most ``textSearchBudget``; `partial`
    /// says it stopped before the oldest job.
    public func count(matching filter: JobFilter, cap: Int = 100_000) async throws -> JobCount {
        guard filter.text != nil else {
            let counted = try await boundedRead { [logger] connection in
                try await JobQueries.count(matching: filter, cap: cap, on: connection, logger: logger)
            }
            return JobCount(count: min(counted, cap), capped: counted > cap)
        }
        return try await boundedRead { [logger] connection in
            guard let ids = try await JobQueries.idRange(on: connection, logger: logger) else { return JobCount(count: 0, capped: false) }
            var counted = 0
            let stoppedAt = try await Self.searchWindows(of: ids, below: nil) { window in
                counted += try await JobQueries.count(matching: filter, cap: cap - counted, ids: window, on: connection, logger: logger)
                return counted <= cap
            }
            let partial = counted <= cap && stoppedAt != nil
            return JobCount(count: min(counted, cap), capped: counted > cap, partial: partial, searchedFromID: partial ? stoppedAt : nil)
        }
    }

    /// Applies `action` to the jobs of `ids`, or to every job matching `filter`, in batches of
    /// 1,000, each one short statement under the deadline, so no lock is held for long and a
    /// large action never waits on the database in one piece. Jobs whose state does not allow
    /// the action (see ``BulkAction/allowedFrom``) count as matched, not changed; so does a job
    /// a daemon is writing at that instant. Queues that got work back are woken.
    ///
    /// A filter walks from the newest job down, by id, so jobs enqueued while it runs are left
    /// alone. Batches done stay done if a later one fails.
    public func bulk(_ action: BulkAction, ids: [Int64]) async throws -> BulkResult {
        var result = BulkResult(action: action, matched: 0, changed: 0)
        var start = 0
        let unique = Array(Set(ids)).sorted(by: >)
        while start < unique.count {
            let chunk = Array(unique[start..<min(start + JobQueries.bulkBatchSize, unique.count)])
            let batch = try await bulkBatch(action, ids: chunk, filter: JobFilter(), before: nil)
            result.matched += batch.matched
            result.changed += batch.changed
            start += chunk.count
        }
        return result
    }

    /// See ``bulk(_:ids:)``.
    public func bulk(_ action: BulkAction, matching filter: JobFilter) async throws -> BulkResult {
        var result = BulkResult(action: action, matched: 0, changed: 0)
        var before: Int64?
        while true {
            let batch = try await bulkBatch(action, ids: nil, filter: filter, before: before)
            result.matched += batch.matched
            result.changed += batch.changed
            guard batch.matched == JobQueries.bulkBatchSize, let lowest = batch.lowestID else { return result }
            before = lowest
        }
    }

    private func bulkBatch(_ action: BulkAction, ids: [Int64]?, filter: JobFilter, before: Int64?) async throws -> JobQueries.BulkBatch {
        // A retry skips jobs whose unique key another unfinished job holds, but a job enqueued
        // with that key while the batch runs is not yet visible to its check: the update then
        // fails on the unique index (23505). Run again, the batch sees the new holder and skips
        // the job, as it skips the others.
        var collisions = 0, moves = 0
        while true {
            do {
                return try await withConnection { [logger] connection in
                    let batch = try await JobQueries.bulk(action, ids: ids, filter: filter, before: before, on: connection, logger: logger)
                    try await JobQueries.notify(queues: Set(action == .retry ? batch.queues : []), on: connection, logger: logger)
                    return batch
                }
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" && action == .retry && collisions < 3 {
                collisions += 1
            } catch let error as PSQLError where error.isRowMovedByConcurrentUpdate && moves < 20 {
                // A job of the batch finished (moved partition) while the batch waited on it: run again.
                moves += 1
            }
        }
    }

    /// Discarded and retrying jobs since `since`, grouped by kind and last error, most frequent first.
    public func failureGroups(since: Date, queue: String? = nil, kind: String? = nil, limit: Int = 100) async throws -> [FailureGroup] {
        try await boundedRead { [logger] connection in
            try await JobQueries.failureGroups(since: since, queue: queue, kind: kind, limit: limit, on: connection, logger: logger)
        }
    }

    /// Jobs finished per queue and minute over the last `minutes` minutes.
    public func finishedPerMinute(minutes: Int) async throws -> [FinishedPerMinute] {
        try await boundedRead { [logger] connection in
            try await JobQueries.finishedPerMinute(minutes: minutes, on: connection, logger: logger)
        }
    }

    /// The live daemons, each with the number of jobs it runs now.
    public func daemonActivity() async throws -> [DaemonActivity] {
        try await withConnection { [logger] connection in
            let daemons = try await JobQueries.liveDaemons(on: connection, logger: logger)
            let running = try await JobQueries.runningPerDaemon(on: connection, logger: logger)
            return daemons.map { DaemonActivity(daemon: $0, running: running[$0.name] ?? 0) }
        }
    }

    /// A read under ``withConnection(_:)`` whose statements the server also stops, a second
    /// after the deadline (so the caller hears the deadline, 503, not the server's cancel): a
    /// search through history that the caller abandoned would otherwise keep a core busy.
    private func boundedRead<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withConnection { [logger, deadline] connection in
            try await connection.transaction(logger: logger) { connection in
                if let deadline {
                    try await JobQueries.limitStatements(to: deadline + .seconds(1), on: connection, logger: logger)
                }
                return try await body(connection)
            }
        }
    }
}
