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
        while true {
            do {
                try await client.withConnection { connection in
                    try await JobQueries.complete(completed, on: connection, logger: logger)
                    try await JobQueries.finish(others, on: connection, logger: logger)
                }
                return
            } catch {
                logger.warning("writing \(batch.count) job outcome(s) failed, retrying in \(delay): \(readableDescription(of: error))")
                // Not cancellable on purpose: outcomes of finished work are written before we stop.
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}
