import Foundation
import Logging
import Metrics
import PostgresNIO
import Synchronization

/// Claims and runs the jobs of one queue, up to its concurrency.
///
/// It claims as many jobs as it has free slots (at most `claimBatch`) in one statement, runs
/// each in its own child task, and hands outcomes to the ``JobCompleter``. It sleeps on a
/// ``Doorbell`` rung by NOTIFY, by the poll timer, and by finished jobs when the last claim
/// filled every slot (so a busy queue keeps flowing without any notification).
final class QueueProducer: Sendable {
    private struct State {
        var running: [Int64: RunningJob] = [:]
        var lastClaimFilledSlots = false
        var stopping = false
    }

    let queue: String
    /// Slots: how many of this queue's jobs run at once.
    let concurrency: Int
    let configuration: JobDaemon.Configuration
    let doorbell = Doorbell()
    private let state = Mutex(State())
    private let client: PostgresClient
    private let registry: WorkerRegistry
    private let completer: JobCompleter
    private let metrics: QueueMetrics
    private let logger: Logger

    init(queue: String, concurrency: Int, configuration: JobDaemon.Configuration, client: PostgresClient,
         registry: WorkerRegistry, completer: JobCompleter, metrics: QueueMetrics, logger: Logger) {
        self.queue = queue
        self.concurrency = concurrency
        self.configuration = configuration
        self.client = client
        self.registry = registry
        self.completer = completer
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "queue"] = "\(queue)"
        self.logger = logger
    }

    /// Free slots that make a claim worthwhile on a busy queue: a quarter of the slots, at most
    /// a batch, so long jobs never leave more than a quarter of the slots idle.
    private var refillThreshold: Int { min(configuration.claimBatch, max(1, concurrency / 4)) }

    /// A claimed job until its outcome is reported.
    struct RunningJob {
        var attempt: Int
        var deadline: ContinuousClock.Instant
        /// The task the attempt runs in, set once it has started: the sweeper cancels it
        /// when the deadline passes.
        var task: Task<FinishedAttempt, Never>?
        var timedOut = false
    }

    /// How often running jobs are checked against their timeouts (timeouts are this precise).
    static let sweepInterval: Duration = .milliseconds(100)

    /// Jobs this producer is running now, with their attempts (for lease renewal).
    var runningJobs: [Int64: Int] { state.withLock { $0.running.mapValues(\.attempt) } }

    /// Stop claiming; running jobs get the configured shutdown timeout to finish, then are handed back.
    func stop() {
        state.withLock { $0.stopping = true }
        doorbell.ring()
    }

    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.sweepTimeouts() }
            await claimLoop(group: &group)
            await drain(group: &group)
            group.cancelAll()
        }
    }

    private func claimLoop(group: inout DiscardingTaskGroup) async {
        var claimFailures = 0
        while !Task.isCancelled {
            let (free, stopping, busy) = state.withLock {
                ($0.stopping ? 0 : concurrency - $0.running.count, $0.stopping, $0.lastClaimFilledSlots)
            }
            if stopping { return }
            // Outcomes waiting to be written count against claiming, so a slow database
            // slows claiming instead of piling up results in memory.
            let backlogRoom = 10 * JobCompleter.maximumBatch - completer.backlog
            let limit = min(free, configuration.claimBatch, max(backlogRoom, 0))
            // On a busy queue, wait until a whole batch of slots is free: many small claims
            // cost a round trip each for few jobs.
            let worthClaiming = !busy || limit >= refillThreshold
            if limit > 0 && worthClaiming {
                do {
                    let started = ContinuousClock.now
                    let jobs = try await client.withConnection { connection in
                        try await JobQueries.claim(queue: queue, limit: limit, worker: configuration.workerName,
                                                   lease: configuration.lease, on: connection, logger: logger)
                    }
                    metrics.recordClaim(duration: ContinuousClock.now - started, count: jobs.count)
                    claimFailures = 0
                    let now = ContinuousClock.now
                    let freeAfter = state.withLock { state in
                        for job in jobs {
                            state.running[job.id] = RunningJob(attempt: job.attempt, deadline: now + timeout(for: job))
                        }
                        state.lastClaimFilledSlots = jobs.count == limit
                        return concurrency - state.running.count
                    }
                    for job in jobs {
                        group.addTask { await self.execute(job) }
                    }
                    // A full batch means more may be due: claim again while enough slots are
                    // free. Counted now, not before the claim: jobs that ended while it ran freed
                    // slots without ringing (a slot rings only when the free count reaches the
                    // threshold), and waiting for the next ring left them idle until the poll.
                    if jobs.count == limit && freeAfter >= refillThreshold { continue }
                } catch {
                    claimFailures += 1
                    if claimFailures == 1 || claimFailures % 30 == 0 {
                        logger.warning("claiming failed (\(claimFailures) time(s) in a row): \(readableDescription(of: error))")
                    }
                }
            }
            guard await doorbell.wait() else { return }
        }
    }

    private func drain(group: inout DiscardingTaskGroup) async {
        guard !state.withLock({ $0.running.isEmpty }) else { return }
        let deadline = ContinuousClock.now + configuration.shutdownTimeout
        logger.info("waiting up to \(configuration.shutdownTimeout) for \(runningJobs.count) running job(s)")
        group.addTask { [doorbell] in
            try? await Task.sleep(until: deadline)
            doorbell.ring()
        }
        while !state.withLock({ $0.running.isEmpty }) && ContinuousClock.now < deadline && !Task.isCancelled {
            await doorbell.wait()
        }
        let left = runningJobs.count
        if left > 0 { logger.notice("handing back \(left) unfinished job(s)") }
        // Cancels the unfinished jobs (they report a hand-back) and the deadline timer.
        group.cancelAll()
    }

    // MARK: Running one job

    private func execute(_ job: ClaimedJob) async {
        let started = ContinuousClock.now
        // The attempt runs in a task whose handle this producer owns, so that the sweeper can
        // cancel this one job at its deadline; cancelling the producer's task group (shutdown)
        // reaches it through the cancellation handler.
        let attemptTask = Task { await self.attempt(job) }
        let timedOutBeforeStart = state.withLock { state -> Bool in
            state.running[job.id]?.task = attemptTask
            return state.running[job.id]?.timedOut ?? false
        }
        if timedOutBeforeStart { attemptTask.cancel() }
        let outcome = await withTaskCancellationHandler {
            await attemptTask.value
        } onCancel: {
            attemptTask.cancel()
        }
        metrics.recordFinished(kind: job.kind, outcome: outcome.newState, duration: ContinuousClock.now - started)
        completer.report(outcome)
        let ring = state.withLock { state -> Bool in
            state.running[job.id] = nil
            let free = concurrency - state.running.count
            return (state.lastClaimFilledSlots && free == refillThreshold) || state.stopping
        }
        if ring { doorbell.ring() }
    }

    private func attempt(_ job: ClaimedJob) async -> FinishedAttempt {
        var outcome = FinishedAttempt(id: job.id, attempt: job.attempt, newState: .completed)
        guard let entry = registry.entry(for: job.kind) else {
            outcome.newState = .discarded
            outcome.errorJSON = Self.errorJSON(job, kind: "unknown_kind",
                                               message: "no worker is registered for kind '\(job.kind)' in this daemon")
            logger.error("discarding job of unknown kind", metadata: ["job_id": "\(job.id)", "kind": "\(job.kind)"])
            return outcome
        }
        let timeout = timeout(for: job)
        let context = JobContext(jobID: job.id, kind: job.kind, queue: job.queue, attempt: job.attempt,
                                 maxAttempts: job.maxAttempts, logger: self.logger)
        do {
            try await entry.run(job, context)
            if state.withLock({ $0.running[job.id]?.timedOut ?? false }) { throw JobTimedOut() }
            return outcome
        } catch let control as JobControl {
            switch control {
            case .snooze(let delay):
                outcome.newState = .scheduled
                outcome.runAfter = delay
                outcome.refundsAttempt = true
            case .cancel(let reason):
                outcome.newState = .cancelled
                outcome.errorJSON = Self.errorJSON(job, kind: "cancelled", message: reason)
            case .discard(let reason):
                outcome.newState = .discarded
                outcome.errorJSON = Self.errorJSON(job, kind: "discarded", message: reason)
            }
            return outcome
        } catch {
            let timedOut = error is JobTimedOut || state.withLock { $0.running[job.id]?.timedOut ?? false }
            if !timedOut && Task.isCancelled && state.withLock({ $0.stopping }) {
                // Shutdown interrupted it: not the job's fault, so the attempt is given back.
                outcome.newState = .available
                outcome.runAfter = .zero
                outcome.refundsAttempt = true
                return outcome
            }
            let kind = timedOut ? "timeout" : "error"
            let message = timedOut ? "timed out after \(timeout)" : readableDescription(of: error)
            outcome.errorJSON = Self.errorJSON(job, kind: kind, message: message)
            if job.isLastAttempt {
                outcome.newState = .discarded
                context.logger.warning("job failed on its last attempt and is discarded: \(message)")
            } else {
                outcome.newState = .retryable
                let delay: Duration
                if let hinted = (error as? any RetryAfterHinting)?.retryAfter {
                    delay = min(max(hinted, .zero), .seconds(3600))
                } else {
                    delay = configuration.retryPolicy.delay(afterAttempt: job.attempt)
                }
                outcome.runAfter = delay
                context.logger.info("job attempt failed, retrying in \(delay): \(message)")
            }
            return outcome
        }
    }

    static func errorJSON(_ job: ClaimedJob, kind: String, message: String) -> String {
        let object: [String: Any] = ["attempt": job.attempt, "kind": kind, "error": message]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    struct JobTimedOut: Error {}

    func timeout(for job: ClaimedJob) -> Duration {
        configuration.kindTimeouts[job.kind] ?? registry.entry(for: job.kind)?.timeout ?? configuration.defaultTimeout
    }

    /// Cancels jobs past their deadline. One sweeper per queue rather than a timer per job:
    /// per-job timers cost more than the jobs themselves at tens of thousands per second.
    private func sweepTimeouts() async {
        while true {
            do { try await Task.sleep(for: Self.sweepInterval) } catch { return }
            let now = ContinuousClock.now
            state.withLock { state in
                for (id, job) in state.running where job.deadline <= now && !job.timedOut {
                    state.running[id]?.timedOut = true
                    job.task?.cancel()
                }
            }
        }
    }
}
