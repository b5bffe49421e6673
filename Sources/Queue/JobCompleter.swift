import Logging
import PostgresNIO
import Synchronization

/// Writes attempts' outcomes back in batches: many jobs per statement, one flush in flight.
///
/// While one flush runs, new outcomes pile up and go out together in the next, so the number of
/// round trips falls as load rises. A failed flush is retried; outcomes are never dropped (if the
/// daemon dies first, the leases run out and the jobs are rescued: at least once).
final class JobCompleter: Sendable {
    private struct State {
        var pending: [FinishedAttempt] = []
        var closed = false
    }

    private let state = Mutex(State())
    private let doorbell = Doorbell()
    private let client: PostgresClient
    private let logger: Logger
    static let maximumBatch = 5_000

    init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    func report(_ outcome: FinishedAttempt) {
        state.withLock { $0.pending.append(outcome) }
        doorbell.ring()
    }

    /// Outcomes waiting to be written (for back-pressure on claiming).
    var backlog: Int { state.withLock { $0.pending.count } }

    /// Stops once everything reported so far is written.
    func finish() {
        state.withLock { $0.closed = true }
        doorbell.ring()
    }

    func run() async {
        while true {
            let (batch, closed) = state.withLock { state -> ([FinishedAttempt], Bool) in
                let batch = Array(state.pending.prefix(Self.maximumBatch))
                state.pending.removeFirst(batch.count)
                return (batch, state.closed)
            }
            if batch.isEmpty {
                if closed { return }
                guard await doorbell.wait() else { return }
                continue
            }
            await write(batch)
        }
    }

    private func write(_ batch: [FinishedAttempt]) async {
        let completed = batch.filter { $0.newState == .completed && $0.errorJSON == nil }
        let others = batch.filter { !($0.newState == .completed && $0.errorJSON == nil) }
        var delay = Duration.milliseconds(50)
        var failuresWhileStopping = 0
        let client = self.client, logger = self.logger
        while true {
            do {
                // Outcomes of finished work should be written even when we are being stopped by
                // cancellation, so the write runs in a task that does not inherit it.
                let write = Task {
                    try await client.withConnection { connection in
                        try await JobQueries.complete(completed, on: connection, logger: logger)
                        try await JobQueries.finish(others, on: connection, logger: logger)
                    }
                }
                if Task.isCancelled || state.withLock({ $0.closed }) {
                    // Stopping: a pool that cannot reach its database waits for a connection
                    // without end; the daemon must still stop.
                    guard try await Self.finishes(write, within: .seconds(10)) else {
                        logger.error("""
                            gave up writing \(batch.count) job outcome(s) while stopping: the database did not answer \
                            within 10 s; their leases run out and another daemon takes them back
                            """)
                        return
                    }
                } else {
                    try await write.value
                }
                return
            } catch {
                // Stopping, the retries are bounded (and cancelled, the sleep below returns at
                // once: unbounded, this loop spun, logging millions of lines, when a test cancelled
                // a daemon). Unwritten jobs keep their leases and are rescued later.
                if Task.isCancelled || state.withLock({ $0.closed }) {
                    failuresWhileStopping += 1
                    if failuresWhileStopping >= 5 {
                        logger.error("""
                            giving up writing \(batch.count) job outcome(s) while stopping: \(readableDescription(of: error)); \
                            their leases run out and another daemon takes them back
                            """)
                        return
                    }
                }
                logger.warning("writing \(batch.count) job outcome(s) failed, retrying in \(delay): \(readableDescription(of: error))")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Whether `task` ends within `limit` (its error is rethrown). When the caller is already
    /// cancelled the timer cannot run, and only the task's end counts.
    static func finishes(_ task: Task<Void, any Error>, within limit: Duration) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool?.self) { group in
            group.addTask { try await task.value; return true }
            group.addTask {
                do { try await Task.sleep(for: limit) } catch { return nil }
                return false
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return false
        }
    }
}
