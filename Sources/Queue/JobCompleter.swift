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
        /// The batch being written now.
        var writing: [FinishedAttempt] = []
        /// The outcome of the write in flight: ``finish()`` gives it ``stoppingDeadline`` more
        /// at most, since it may be waiting for a database that is gone.
        var writeInFlight: OneShot<Void>?
        /// When ``finish()`` was called: the completer gives up writing ``stoppingDeadline`` after.
        var closedAt: ContinuousClock.Instant?
        var closed = false
    }

    private let state = Mutex(State())
    private let gaveUp = Mutex(0)

    /// Outcomes the completer gave up writing while stopping (the database did not answer).
    var unwrittenWhenStopped: Int { gaveUp.withLock { $0 } }
    private let doorbell = Doorbell()
    private let client: PostgresClient
    private let logger: Logger
    private let metrics: QueueMetrics?
    static let maximumBatch = 5_000

    init(client: PostgresClient, logger: Logger, metrics: QueueMetrics? = nil) {
        self.client = client
        self.logger = logger
        self.metrics = metrics
    }

    func report(_ outcome: FinishedAttempt) {
        state.withLock { state in
            state.pending.append(outcome)
            recordBacklog(state)
        }
        doorbell.ring()
    }

    /// The backlog gauge: every outcome not written yet (waiting, or in the write in flight).
    /// Recorded under the lock, so the last value recorded is the current one.
    private func recordBacklog(_ state: State) {
        metrics?.recordCompleterBacklog(state.pending.count + state.writing.count)
    }

    /// Outcomes waiting to be written (for back-pressure on claiming).
    var backlog: Int { state.withLock { $0.pending.count } }

    /// Job id → attempt of every outcome not yet written: their jobs keep their leases until
    /// it is, so a slow database does not let another daemon re-run a finished job.
    var unwrittenAttempts: [Int64: Int] {
        state.withLock { state in
            var attempts: [Int64: Int] = [:]
            for outcome in state.writing { attempts[outcome.id] = outcome.attempt }
            for outcome in state.pending { attempts[outcome.id] = outcome.attempt }
            return attempts
        }
    }

    /// Stops once everything reported so far is written.
    func finish() {
        let write = state.withLock { state in
            state.closed = true
            state.closedAt = state.closedAt ?? .now
            return state.writeInFlight
        }
        if let write {
            Task {
                try? await Task.sleep(for: Self.stoppingDeadline)
                write.resolve(.failure(DeadlineExceeded(limit: Self.stoppingDeadline)))
            }
        }
        doorbell.ring()
    }

    func run() async {
        while true {
            let (batch, closed) = state.withLock { state -> ([FinishedAttempt], Bool) in
                let batch = Array(state.pending.prefix(Self.maximumBatch))
                state.pending.removeFirst(batch.count)
                state.writing = batch
                return (batch, state.closed)
            }
            if batch.isEmpty {
                if closed { return }
                guard await doorbell.wait() else { return }
                continue
            }
            await write(batch)
            state.withLock { state in
                state.writing = []
                recordBacklog(state)
            }
        }
    }

    /// When writes stop being retried: `stoppingDeadline` after ``finish()`` (or after this
    /// task was cancelled); nil while the daemon runs.
    private func givingUpAt() -> ContinuousClock.Instant? {
        state.withLock { state in
            if state.closedAt == nil && Task.isCancelled { state.closedAt = .now }
            return state.closedAt.map { $0 + Self.stoppingDeadline }
        }
    }

    /// How long one write may take before it counts as failed (and is tried again); stopping,
    /// how long the daemon waits for the database at all before it gives up.
    static let writeDeadline: Duration = .seconds(30)
    static let stoppingDeadline: Duration = .seconds(10)

    private func write(_ batch: [FinishedAttempt]) async {
        let completed = batch.filter { $0.newState == .completed && $0.errorJSON == nil }
        let others = batch.filter { !($0.newState == .completed && $0.errorJSON == nil) }
        var delay = Duration.milliseconds(50)
        var failuresWhileStopping = 0
        let client = self.client, logger = self.logger
        while true {
            // Stopping, a pool that cannot reach its database waits for a connection without
            // end; the daemon must still stop: writes get until `stoppingDeadline` after finish().
            let limit: Duration
            if let givingUpAt = givingUpAt() {
                limit = max(givingUpAt - ContinuousClock.now, .zero)
            } else {
                limit = Self.writeDeadline
            }
            let outcome = OneShot<Void>()
            let write = Task {
                do {
                    try await client.withOpenConnection { connection in
                        try await JobQueries.complete(completed, on: connection, logger: logger)
                        try await JobQueries.finish(others, on: connection, logger: logger)
                    }
                    outcome.resolve(.success(()))
                } catch {
                    outcome.resolve(.failure(error))
                }
            }
            state.withLock { $0.writeInFlight = outcome }
            defer { state.withLock { $0.writeInFlight = nil } }
            do {
                try await withDeadline(limit) { try await outcome.value() }
                return
            } catch {
                write.cancel()
                // Stopping, the retries are bounded (and cancelled, the sleep below returns at
                // once: unbounded, this loop spun, logging millions of lines, when a test cancelled
                // a daemon). Unwritten jobs keep their leases and are rescued later.
                if givingUpAt() != nil {
                    failuresWhileStopping += 1
                    if failuresWhileStopping >= 5 || error is DeadlineExceeded {
                        logger.error("""
                            gave up writing \(batch.count) job outcome(s) while stopping: \(readableDescription(of: error)); \
                            their leases run out and another daemon takes them back
                            """)
                        gaveUp.withLock { $0 += batch.count }
                        return
                    }
                }
                logger.warning("writing \(batch.count) job outcome(s) failed, retrying in \(delay): \(readableDescription(of: error))")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}
