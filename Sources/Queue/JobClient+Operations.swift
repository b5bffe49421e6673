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
            for row in try await JobQueries.unfinishedCounts(on: connection, logger: logger) {
                var status = entry(row.queue)
                if let parsed = JobState(rawValue: row.state) { status.counts[parsed] = row.count }
                if let oldest = row.oldestDueAge { status.oldestDueAgeSeconds = max(status.oldestDueAgeSeconds ?? 0, oldest) }
                byQueue[row.queue] = status
            }
            for row in try await JobQueries.recentlyFinishedCounts(windowSeconds: windowSeconds, on: connection, logger: logger) {
                guard let parsed = JobState(rawValue: row.state) else { continue }
                var status = entry(row.queue)
                status.counts[parsed] = row.count
                if parsed == .completed { status.completedRecently = row.count }
                byQueue[row.queue] = status
            }
            for row in try await JobQueries.jobsWithoutLiveWorker(on: connection, logger: logger) {
                var status = entry(row.queue)
                status.withoutLiveWorker[row.kind] = row.count
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
            guard let record = try await JobQueries.record(id: id, on: connection, logger: logger) else {
                throw QueueError.jobNotFound(id)
            }
            return record
        }
    }
}
