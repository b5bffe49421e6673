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
        /// Every running job was told to stop (shutdown past its deadline, or cancellation);
        /// a job registered after that is stopped at once.
        var cancellingAll = false
        /// Callers waiting for the last running job to end.
        var waitingForIdle: [CheckedContinuation<Void, Never>] = []
        /// The claims being made now: stopping abandons them after a grace, since with the
        /// database down they would wait for a connection without end.
        var claimsBeingMade: [Int: (task: Task<Void, Never>, outcome: OneShot<[ClaimedJob]>)] = [:]
        var claimsMade = 0

        /// Whether this attempt of `job` (not a later one claimed since) was stopped by its timeout.
        func timedOut(_ job: ClaimedJob) -> Bool {
            guard let entry = running[job.id], entry.attempt == job.attempt else { return false }
            return entry.timedOut
        }
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
    /// The kinds this daemon has workers for: the only ones it claims.
    private let kinds: [String]

    init(queue: String, concurrency: Int, configuration: JobDaemon.Configuration, client: PostgresClient,
         registry: WorkerRegistry, completer: JobCompleter, metrics: QueueMetrics, logger: Logger) {
        self.queue = queue
        self.concurrency = concurrency
        self.configuration = configuration
        self.client = client
        self.registry = registry
        self.kinds = registry.kinds
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
        /// Until when, by this process's monotonic clock, the lease surely holds: the moment
        /// the last successful claim or renewal was *sent*, plus the lease. The database's own
        /// expiry is later than this, never earlier.
        var leaseHeldUntil: ContinuousClock.Instant
        /// The task the job runs in (its handle is what stops it), set right after it started:
        /// the sweeper cancels it when the deadline passes or the lease is lost, shutdown when
        /// the shutdown timeout passes.
        var task: Task<Void, Never>?
        var timedOut = false
        /// The attempt no longer owns the job (a renewal matched nothing, or could not be made
        /// in time): it is stopped and its outcome dropped, since another daemon may run it.
        var lostLease = false
    }

    /// How often running jobs are checked against their timeouts and leases (both are this precise).
    static let sweepInterval: Duration = .milliseconds(100)

    /// How long before its lease could lapse an attempt that cannot renew is stopped: a sixth of
    /// the lease (at least two sweeps), so a rescue elsewhere never overlaps a run here.
    var leaseSafetyMargin: Duration { max(configuration.lease / 6, Self.sweepInterval * 2) }

    /// Jobs this producer is running now, with their attempts (for lease renewal).
    var runningJobs: [Int64: Int] { state.withLock { $0.running.filter { !$0.value.lostLease }.mapValues(\.attempt) } }

    /// Applies a renewal sent at `sentAt` for the attempts in `requested`: those in `renewed`
    /// hold their lease a full lease from `sentAt`; the rest lost their job and are stopped.
    func leasesRenewed(_ renewed: Set<Int64>, requested: [Int64: Int], sentAt: ContinuousClock.Instant) {
        let lease = configuration.lease
        let lost = state.withLock { state -> [Int64] in
            var lost: [Int64] = []
            for (id, attempt) in requested {
                guard let job = state.running[id], job.attempt == attempt, !job.lostLease else { continue }
                if renewed.contains(id) {
                    state.running[id]?.leaseHeldUntil = max(job.leaseHeldUntil, sentAt + lease)
                } else {
                    state.running[id]?.lostLease = true
                    job.task?.cancel()
                    lost.append(id)
                }
            }
            return lost
        }
        for id in lost {
            logger.warning("job lost its lease (cancelled by an operator or rescued elsewhere): stopping it",
                           metadata: ["job_id": "\(id)"])
        }
    }

    /// Stop claiming; running jobs get the configured shutdown timeout to finish, then are handed back.
    func stop() {
        let claims = state.withLock { state in
            state.stopping = true
            return Array(state.claimsBeingMade.values)
        }
        doorbell.ring()
        for claim in claims { Self.abandonAfterGrace(claim) }
    }

    /// A claim that already committed hands its jobs over within milliseconds, and they must run
    /// (or be handed back) here: abandoned, they would sit `running` until their lease lapses. A
    /// claim waiting on an unreachable database may never end, so stopping waits for it only
    /// `claimGraceAtStop`; jobs it claims later lapse and are rescued.
    private static func abandonAfterGrace(_ claim: (task: Task<Void, Never>, outcome: OneShot<[ClaimedJob]>)) {
        Task {
            try? await Task.sleep(for: claimGraceAtStop)
            claim.outcome.resolve(.success([]))
            claim.task.cancel()
        }
    }

    /// How long ``stop()`` lets a claim in flight deliver its jobs.
    static let claimGraceAtStop: Duration = .seconds(2)

    /// The longest a claim may take (the database may be unreachable); past it, it is
    /// abandoned and retried at the next wake-up.
    static let claimDeadline: Duration = .seconds(10)

    /// Claims up to `limit` jobs; ``stop()`` ends the wait at once, and ``claimDeadline`` bounds it.
    private func claim(limit: Int) async throws -> [ClaimedJob] {
        let outcome = OneShot<[ClaimedJob]>()
        let claim = Task { [client, queue, kinds, configuration, logger] in
            do {
                let jobs = try await client.withOpenConnection { connection in
                    try await JobQueries.claim(queue: queue, kinds: kinds, limit: limit, worker: configuration.workerName,
                                               lease: configuration.lease, on: connection, logger: logger)
                }
                outcome.resolve(.success(jobs))
            } catch {
                outcome.resolve(.failure(error))
            }
        }
        let (number, stopping) = state.withLock { state in
            state.claimsMade += 1
            state.claimsBeingMade[state.claimsMade] = (claim, outcome)
            return (state.claimsMade, state.stopping)
        }
        if stopping { Self.abandonAfterGrace((claim, outcome)) }
        defer { state.withLock { _ = $0.claimsBeingMade.removeValue(forKey: number) } }
        do {
            return try await withDeadline(Self.claimDeadline) { try await outcome.value() }
        } catch {
            claim.cancel()
            throw error
        }
    }

    /// How long stopped jobs get to report their hand-back before the producer returns without
    /// them (a worker that ignores cancellation; its lease lapses and the job runs again).
    static let handBackWait: Duration = .seconds(5)

    func run() async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.sweepTimeouts() }
                await claimLoop()
                await drain()
                group.cancelAll()
            }
        } onCancel: {
            cancelAllJobs()
        }
        // Cancelled or past the shutdown timeout, the jobs were told to stop: wait (boundedly,
        // and whatever our own cancellation) for their hand-backs to reach the completer.
        if !state.withLock({ $0.running.isEmpty }) {
            do {
                try await withDeadline(Self.handBackWait) { await self.runningJobsEnded() }
            } catch {
                logger.error("\(runningJobs.count) job(s) did not stop within \(Self.handBackWait) of being cancelled; their leases lapse")
            }
        }
    }

    /// Cancels every running job's task, and any registered later.
    private func cancelAllJobs() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            state.cancellingAll = true
            return state.running.values.compactMap(\.task)
        }
        for task in tasks { task.cancel() }
    }

    /// Returns once no job is running.
    private func runningJobsEnded() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state -> Bool in
                if state.running.isEmpty { return true }
                state.waitingForIdle.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private struct ClaimRound: Sendable {
        var limit: Int
        var started: ContinuousClock.Instant
        var jobs: Result<[ClaimedJob], any Error>
    }

    private func claimLoop() async {
        var claimFailures = 0
        await withTaskGroup(of: ClaimRound.self) { claims in
            var inFlight = 0
            // Slots promised to the claims in flight.
            var reserved = 0
            // Woken (a NOTIFY, the poll, freed slots) or the last claim came back full.
            var mayClaim = true
            while true {
                while mayClaim && inFlight < configuration.claimsInFlight && !Task.isCancelled {
                    let (free, stopping, busy) = state.withLock {
                        ($0.stopping ? 0 : concurrency - $0.running.count, $0.stopping, $0.lastClaimFilledSlots)
                    }
                    if stopping { break }
                    // Outcomes waiting to be written count against claiming, so a slow database
                    // slows claiming instead of piling up results in memory.
                    let backlogRoom = 10 * JobCompleter.maximumBatch - completer.backlog
                    let limit = min(free - reserved, configuration.claimBatch, max(backlogRoom, 0))
                    // On a busy queue, wait until a whole batch of slots is free: many small claims
                    // cost a round trip each for few jobs.
                    let worthClaiming = inFlight == 0 ? (!busy || limit >= refillThreshold)
                                                      : (busy && limit >= configuration.claimBatch)
                    guard limit > 0 && worthClaiming else { break }
                    reserved += limit
                    inFlight += 1
                    claims.addTask {
                        let started = ContinuousClock.now
                        do {
                            return ClaimRound(limit: limit, started: started, jobs: .success(try await self.claim(limit: limit)))
                        } catch {
                            return ClaimRound(limit: limit, started: started, jobs: .failure(error))
                        }
                    }
                }
                if inFlight == 0 {
                    if Task.isCancelled || state.withLock({ $0.stopping }) { return }
                    guard await doorbell.wait() else { return }
                    mayClaim = true
                    continue
                }
                // A claim in flight is always awaited, stopping or not: jobs it committed must
                // run here or be handed back (``stop()`` bounds the wait).
                guard let round = await claims.next() else { return }
                inFlight -= 1
                reserved -= round.limit
                switch round.jobs {
                case .success(let jobs):
                    metrics.recordClaim(duration: ContinuousClock.now - round.started, count: jobs.count)
                    claimFailures = 0
                    start(jobs, claimStarted: round.started, filled: jobs.count == round.limit)
                    // A full batch means more may be due: claim again while enough slots are
                    // free (counted then, not before this claim: jobs that ended while it ran
                    // freed slots without ringing).
                    mayClaim = jobs.count == round.limit
                case .failure(let error):
                    claimFailures += 1
                    if claimFailures == 1 || claimFailures % 30 == 0 {
                        logger.warning("claiming failed (\(claimFailures) time(s) in a row): \(readableDescription(of: error))")
                    }
                    mayClaim = false
                }
            }
        }
    }

    /// Registers claimed jobs and runs each in a task whose handle is kept: it is how one job
    /// is stopped (timeout, lost lease, shutdown) without touching the others.
    private func start(_ jobs: [ClaimedJob], claimStarted: ContinuousClock.Instant, filled: Bool) {
        let now = ContinuousClock.now
        state.withLock { state in
            for job in jobs {
                state.running[job.id] = RunningJob(attempt: job.attempt, deadline: now + timeout(for: job),
                                                   leaseHeldUntil: claimStarted + configuration.lease)
            }
            state.lastClaimFilledSlots = filled
        }
        let tasks = jobs.map { job in (job, Task { await self.execute(job) }) }
        let stopAtOnce = state.withLock { state -> [Task<Void, Never>] in
            var stop: [Task<Void, Never>] = []
            for (job, task) in tasks {
                guard var entry = state.running[job.id], entry.attempt == job.attempt else { continue }
                entry.task = task
                state.running[job.id] = entry
                if entry.timedOut || entry.lostLease || state.cancellingAll { stop.append(task) }
            }
            return stop
        }
        for task in stopAtOnce { task.cancel() }
    }

    /// Lets running jobs finish until the shutdown timeout, then stops the rest (they report a
    /// hand-back).
    private func drain() async {
        guard !state.withLock({ $0.running.isEmpty }), !Task.isCancelled else { return }
        logger.info("waiting up to \(configuration.shutdownTimeout) for \(runningJobs.count) running job(s)")
        do {
            try await withDeadline(configuration.shutdownTimeout) { await self.runningJobsEnded() }
        } catch {
            let left = runningJobs.count
            if left > 0 { logger.notice("handing back \(left) unfinished job(s)") }
        }
        cancelAllJobs()
    }

    // MARK: Running one job

    private func execute(_ job: ClaimedJob) async {
        let started = ContinuousClock.now
        let outcome = await attempt(job)
        metrics.recordFinished(kind: job.kind, outcome: outcome.newState, duration: ContinuousClock.now - started)
        let ring = state.withLock { state -> Bool in
            // Reported inside the lock, so a renewal sees the job either here or in the completer.
            // The entry may belong to a later attempt of the same job: this one lost its lease,
            // ran on past the cancel (a blocking call), and the job was rescued and claimed here
            // again. Then this run reports nothing and leaves the later attempt's entry alone.
            guard let entry = state.running[job.id], entry.attempt == job.attempt else { return false }
            if !entry.lostLease { completer.report(outcome) }
            state.running[job.id] = nil
            if state.running.isEmpty {
                for waiter in state.waitingForIdle { waiter.resume() }
                state.waitingForIdle = []
            }
            let free = concurrency - state.running.count
            return (state.lastClaimFilledSlots && free == refillThreshold) || state.stopping
        }
        if ring { doorbell.ring() }
    }

    private func attempt(_ job: ClaimedJob) async -> FinishedAttempt {
        var outcome = FinishedAttempt(id: job.id, attempt: job.attempt, newState: .completed)
        guard let entry = registry.entry(for: job.kind) else {
            // Claims name this daemon's kinds, so this is a registry changed under a running
            // daemon: hand the job back for a daemon that knows it, without spending an attempt.
            outcome.newState = .scheduled
            outcome.runAfter = configuration.pollInterval * 5
            outcome.refundsAttempt = true
            logger.warning("handing back a job of a kind this daemon has no worker for",
                           metadata: ["job_id": "\(job.id)", "kind": "\(job.kind)"])
            return outcome
        }
        let timeout = timeout(for: job)
        let context = JobContext(jobID: job.id, kind: job.kind, queue: job.queue, attempt: job.attempt,
                                 maxAttempts: job.maxAttempts, logger: self.logger)
        do {
            try await entry.run(job, context)
            if state.withLock({ $0.timedOut(job) }) { throw JobTimedOut() }
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
            let timedOut = error is JobTimedOut || state.withLock { $0.timedOut(job) }
            if !timedOut && Task.isCancelled && state.withLock({ $0.stopping || $0.cancellingAll }) {
                // Shutdown or cancellation interrupted it: not the job's fault, so the attempt is given back.
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

    /// Cancels jobs past their deadline, and jobs whose lease could lapse soon because no
    /// renewal got through (the database is unreachable or slow): those stop here before another
    /// daemon may rescue them. One sweeper per queue rather than a timer per job: per-job timers
    /// cost more than the jobs themselves at tens of thousands per second.
    private func sweepTimeouts() async {
        let margin = leaseSafetyMargin
        while true {
            do { try await Task.sleep(for: Self.sweepInterval) } catch { return }
            let now = ContinuousClock.now
            let expiring = state.withLock { state -> [Int64] in
                var expiring: [Int64] = []
                for (id, job) in state.running {
                    if job.deadline <= now && !job.timedOut {
                        state.running[id]?.timedOut = true
                        job.task?.cancel()
                    }
                    if job.leaseHeldUntil - margin <= now && !job.lostLease {
                        state.running[id]?.lostLease = true
                        job.task?.cancel()
                        expiring.append(id)
                    }
                }
                return expiring
            }
            for id in expiring {
                logger.error("""
                    stopping a job whose lease could not be renewed in time (database unreachable or slow); \
                    it runs again after its lease lapses
                    """, metadata: ["job_id": "\(id)"])
            }
        }
    }
}
