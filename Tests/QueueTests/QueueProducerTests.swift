import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import ServiceLifecycle
import Testing

/// `QueueProducer` (driven through a `JobDaemon`, which runs one per queue): what it claims and
/// when, how an attempt's end becomes the job's next state, timeouts, and the hand-back of
/// running jobs at shutdown.
///
/// Serialized: the backoff, timeout and shutdown tests measure time.
@Suite(.serialized, .timeLimit(.minutes(5))) struct QueueProducerTests {
    let logger = TestDatabase.logger

    // MARK: Claiming

    @Test func noMoreJobsRunAtOnceThanTheQueuesConcurrency() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let timeline = Timeline()
            let registry = try QT.registry { try $0.register(SlowWorker(timeline: timeline)) }
            let ids = try await JobClient(client: client, logger: logger)
                .enqueue((0..<12).map { _ in try NewJob(SlowPayload(ms: 200)) })
            let configuration = QT.configuration { $0.queues = ["default": 3] }
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: configuration)) {
                try await QT.waitUntil("SELECT count(*) = 12 FROM evently_jobs.jobs WHERE state = 'completed'", on: client,
                                       "all 12 jobs to complete")
            }
            // At each job's start, how many jobs had started and not yet ended (itself included).
            let spans = try ids.map { id in (start: try #require(timeline.start(of: id)), end: try #require(timeline.end(of: id))) }
            let running = spans.map { span in spans.filter { $0.start <= span.start && span.start < $0.end }.count }
            #expect(running.max() == 3, "never more than 3 at once, and all 3 slots were used: \(running)")
        }
    }

    /// Several claims in flight at once (queue.claims_in_flight) take disjoint jobs and never
    /// promise more jobs than there are free slots.
    @Test func severalClaimsInFlightNeitherOverfillTheSlotsNorClaimAJobTwice() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations, maximumConnections: 12) { client in
            let timeline = Timeline()
            let registry = try QT.registry { try $0.register(SlowWorker(timeline: timeline)) }
            let total = 2_000
            let ids = try await JobClient(client: client, logger: logger)
                .enqueue((0..<total).map { _ in try NewJob(SlowPayload(ms: 5)) })
            let configuration = QT.configuration {
                $0.queues = ["default": 30]
                $0.claimBatch = 10
                $0.claimsInFlight = 4
            }
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: configuration)) {
                try await QT.waitUntil("SELECT count(*) = \(total) FROM evently_jobs.jobs WHERE state = 'completed'", on: client,
                                       timeout: .seconds(120), "all \(total) jobs to complete")
            }
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs WHERE attempt <> 1", on: client) == 0,
                    "every job claimed once")
            let spans = try ids.map { id in (start: try #require(timeline.start(of: id)), end: try #require(timeline.end(of: id))) }
                .sorted { $0.start < $1.start }
            // At each job's start, how many had started and not yet ended (itself included).
            var mostAtOnce = 0
            for (index, span) in spans.enumerated() {
                let running = spans[...index].filter { span.start < $0.end }.count
                mostAtOnce = max(mostAtOnce, running)
            }
            #expect(mostAtOnce <= 30, "never more than the 30 slots at once: \(mostAtOnce)")
        }
    }

    @Test func lowerPriorityRunsFirst() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let timeline = Timeline()
            let registry = try QT.registry { try $0.register(SlowWorker(timeline: timeline)) }
            let jobs = JobClient(client: client, logger: logger)
            let p5 = try await jobs.enqueue(SlowPayload(ms: 0), options: .init(priority: 5)).id
            let p0 = try await jobs.enqueue(SlowPayload(ms: 0), options: .init(priority: 0)).id
            let pMinus3 = try await jobs.enqueue(SlowPayload(ms: 0), options: .init(priority: -3)).id
            let p0Later = try await jobs.enqueue(SlowPayload(ms: 0), options: .init(priority: 0)).id
            let configuration = QT.configuration { $0.queues = ["default": 1] }
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: configuration)) {
                try await QT.waitUntil("SELECT count(*) = 4 FROM evently_jobs.jobs WHERE state = 'completed'", on: client,
                                       "all 4 jobs to complete")
            }
            #expect(timeline.startOrder == [pMinus3, p0, p0Later, p5])
        }
    }

    @Test func scheduledJobDoesNotRunBeforeItsTime() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let id = try await JobClient(client: client, logger: logger)
                .enqueue(NewJob(kind: "diag.noop", options: .init(delay: .milliseconds(1_500)))).id
            try await QT.withDaemon(QT.daemon(client, registry: try QT.registry(), configuration: QT.configuration())) {
                try await QT.waitForState(id, .completed, on: client)
            }
            #expect(try await QT.scalar(Bool.self,
                "SELECT attempted_at >= run_at FROM evently_jobs.jobs WHERE id = \(id)", on: client))
        }
    }

    /// Jobs that end while a claim is in flight free their slots without ringing (a slot rings
    /// only when the free count reaches the refill threshold); the producer used to leave them
    /// idle until the next poll. With a one-minute poll, a stall fails this test.
    @Test func slotsFreedDuringAClaimAreRefilledWithoutWaitingForThePoll() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let timeline = Timeline()
            let registry = try QT.registry { try $0.register(SlowWorker(timeline: timeline)) }
            let jobs = JobClient(client: client, logger: logger)
            let configuration = QT.configuration {
                $0.queues = ["default": 8]
                $0.pollInterval = .seconds(60)
            }
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: configuration)) {
                try await QT.waitForListener(on: client)
                let ids = try await jobs.enqueue((0..<300).map { _ in try NewJob(SlowPayload(ms: 10)) })
                try await QT.waitUntil(
                    "SELECT count(*) = \(ids.count) FROM evently_jobs.jobs WHERE state = 'completed'",
                    on: client, timeout: .seconds(30), "300 short jobs to finish without a poll")
            }
        }
    }

    // MARK: Outcomes of an attempt

    @Test func failingJobIsRetriedWithBackoffUntilItSucceeds() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let configuration = QT.configuration {
                $0.retryPolicy = RetryPolicy(base: .milliseconds(50), cap: .milliseconds(200), jitter: 0)
                $0.pollInterval = .milliseconds(50)
            }
            let jobs = JobClient(client: client, logger: logger)
            let id = try await jobs.enqueue(DiagnosticWorkers.Fail.Payload(times: 2), options: .init(maxAttempts: 5)).id
            try await QT.withDaemon(QT.daemon(client, registry: try QT.registry(), configuration: configuration)) {
                try await QT.waitForState(id, .completed, on: client)
            }
            let row = try await QT.row(id, on: client)
            #expect(row.attempt == 3)
            #expect(row.finalized)
            let entries = try await QT.errorEntries(id, on: client)
            #expect(entries.count == 2)
            #expect(entries.map(\.attempt) == [1, 2])
            #expect(entries.allSatisfy { $0.hasAt })
            #expect(entries.allSatisfy { $0.kind == "error" })
            #expect(entries.first?.error == "diag.fail: planned failure on attempt 1")
            #expect(entries.last?.error == "diag.fail: planned failure on attempt 2")
            // The backoff was waited: 50 ms after the first failure, 100 ms after the second.
            let gaps = try await client.query("""
                SELECT extract(epoch FROM (errors->1->>'at')::timestamptz - (errors->0->>'at')::timestamptz)::float8,
                       extract(epoch FROM attempted_at - (errors->1->>'at')::timestamptz)::float8
                FROM evently_jobs.jobs WHERE id = \(id)
                """, logger: logger)
            for try await (first, second) in gaps.decode((Double, Double).self) {
                #expect(first >= 0.050, "second attempt came \(first) s after the first failure")
                #expect(second >= 0.100, "third attempt came \(second) s after the second failure")
            }
            let record = try await jobs.job(id: id)
            #expect(record.errors.count == 2)
            #expect(record.errors.allSatisfy { $0.at != nil })
        }
    }

    @Test func jobOutOfAttemptsIsDiscarded() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let configuration = QT.configuration {
                $0.retryPolicy = RetryPolicy(base: .milliseconds(50), cap: .milliseconds(200), jitter: 0)
                $0.pollInterval = .milliseconds(50)
            }
            let id = try await JobClient(client: client, logger: logger)
                .enqueue(DiagnosticWorkers.Fail.Payload(times: 10), options: .init(maxAttempts: 3)).id
            try await QT.withDaemon(QT.daemon(client, registry: try QT.registry(), configuration: configuration)) {
                try await QT.waitForState(id, .discarded, on: client)
            }
            let row = try await QT.row(id, on: client)
            #expect(row.attempt == 3)
            #expect(row.finalized)
            let entries = try await QT.errorEntries(id, on: client)
            #expect(entries.map(\.attempt) == [1, 2, 3])
            #expect(entries.allSatisfy { $0.hasAt && $0.error != nil })
            #expect(entries.last?.error == "diag.fail: planned failure on attempt 3")
        }
    }

    @Test func snoozeDoesNotSpendAnAttempt() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let counter = RunCounter()
            let registry = try QT.registry { try $0.register(SnoozeOnceWorker(counter: counter)) }
            let id = try await JobClient(client: client, logger: logger).enqueue(SnoozeOncePayload()).id
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                try await QT.waitForState(id, .completed, on: client)
            }
            #expect(counter.runs(of: id) == 2)
            let row = try await QT.row(id, on: client)
            #expect(row.attempt == 1)
            #expect(row.errorCount == 0)
            #expect(row.finalized)
        }
    }

    @Test func workerCancelsAndDiscards() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let registry = try QT.registry { try $0.register(ControlWorker()) }
            let jobs = JobClient(client: client, logger: logger)
            let cancelled = try await jobs.enqueue(ControlPayload(action: "cancel", reason: "the booking is gone")).id
            let discarded = try await jobs.enqueue(ControlPayload(action: "discard", reason: "the address bounces")).id
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                try await QT.waitForState(cancelled, .cancelled, on: client)
                try await QT.waitForState(discarded, .discarded, on: client)
            }
            for (id, state, kind, reason) in [(cancelled, "cancelled", "cancelled", "the booking is gone"),
                                              (discarded, "discarded", "discarded", "the address bounces")] {
                let row = try await QT.row(id, on: client)
                #expect(row.state == state)
                #expect(row.finalized)
                #expect(row.attempt == 1)
                let last = try #require(try await QT.errorEntries(id, on: client).last)
                #expect(last.error == reason)
                #expect(last.kind == kind)
                #expect(last.attempt == 1)
                #expect(last.hasAt)
            }
        }
    }

    /// A rolling upgrade: the old daemon has no worker for a new kind. It must leave those jobs
    /// alone (no attempt spent, nothing discarded), say so in the status, and the new daemon
    /// runs them.
    @Test func jobOfAKindThisDaemonHasNoWorkerForWaitsForOneThatHas() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let newKind = try await jobs.enqueue((0..<5).map { _ in try NewJob(RecordPayload()) })
            let noop = try await jobs.enqueue(DiagnosticWorkers.Noop.Payload()).id
            let old = QT.daemon(client, registry: try QT.registry(), configuration: QT.configuration())
            try await QT.withDaemon(old) {
                try await QT.waitForState(noop, .completed, on: client)
                try await Task.sleep(for: .milliseconds(500))   // several polls of the old daemon: asserting an absence
                let status = try await jobs.status().first { $0.queue == "default" }
                #expect(status?.withoutLiveWorker == [RecordPayload.kind: 5])
            }
            for id in newKind {
                let row = try await QT.row(id, on: client)
                #expect(row.state == "available" && row.attempt == 0 && row.errorCount == 0, "job \(id): \(row)")
            }
            let times = StartTimes()
            let new = QT.daemon(client, registry: try QT.registry { try $0.register(RecordWorker(times: times)) },
                                configuration: QT.configuration())
            try await QT.withDaemon(new) {
                for id in newKind { try await QT.waitForState(id, .completed, on: client) }
            }
            for id in newKind { #expect(try await QT.row(id, on: client).attempt == 1) }
        }
    }

    // MARK: Timeouts

    @Test func attemptThatRunsTooLongTimesOut() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let configuration = QT.configuration { $0.kindTimeouts = ["diag.sleep": .milliseconds(200)] }
            let id = try await JobClient(client: client, logger: logger)
                .enqueue(DiagnosticWorkers.Sleep.Payload(ms: 5_000), options: .init(maxAttempts: 1)).id
            let started = ContinuousClock.now
            try await QT.withDaemon(QT.daemon(client, registry: try QT.registry(), configuration: configuration)) {
                try await QT.waitForState(id, .discarded, on: client)
            }
            #expect(ContinuousClock.now - started < .seconds(4), "the attempt was cut short")
            let row = try await QT.row(id, on: client)
            #expect(row.attempt == 1)
            #expect(row.finalized)
            let last = try #require(try await QT.errorEntries(id, on: client).last)
            #expect(last.kind == "timeout")
            #expect(last.attempt == 1)
        }
    }

    // MARK: Shutdown

    /// Runs `daemon` in a ServiceGroup, calls `whileRunning`, triggers graceful shutdown and
    /// returns how long `run()` took to return after the trigger (failing after 30 s).
    func shutDownGracefully(_ daemon: JobDaemon, whileRunning: () async throws -> Void) async throws -> Duration {
        let group = ServiceGroup(configuration: .init(services: [.init(service: daemon)], logger: logger))
        return try await withThrowingTaskGroup(of: ContinuousClock.Instant?.self) { tasks in
            tasks.addTask { try await group.run(); return ContinuousClock.now }
            do { try await whileRunning() } catch {
                tasks.cancelAll()
                throw error
            }
            let triggered = ContinuousClock.now
            await group.triggerGracefulShutdown()
            tasks.addTask { try? await Task.sleep(for: .seconds(30)); return nil }
            let first = try await tasks.next()
            tasks.cancelAll()
            guard let returned = first ?? nil else {
                Issue.record("the daemon did not return within 30 s of graceful shutdown")
                return .seconds(30)
            }
            return returned - triggered
        }
    }

    @Test func shutdownHandsBackJobsThatOutlastTheTimeout() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let configuration = QT.configuration {
                $0.queues = ["default": 10]
                $0.shutdownTimeout = .milliseconds(300)
            }
            let daemon = QT.daemon(client, registry: try QT.registry(), configuration: configuration)
            let ids = try await JobClient(client: client, logger: logger)
                .enqueue((0..<5).map { _ in try NewJob(DiagnosticWorkers.Sleep.Payload(ms: 10_000)) })
            #expect(ids.count == 5)
            let took = try await shutDownGracefully(daemon) {
                try await QT.waitUntil("SELECT count(*) = 5 FROM evently_jobs.jobs WHERE state = 'running'", on: client,
                                       "all 5 jobs to run")
            }
            #expect(took < .seconds(3), "run() returned \(took) after the shutdown began")
            #expect(took >= .milliseconds(300), "running jobs were given the shutdown timeout")
            #expect(try await QT.count("""
                SELECT count(*) FROM evently_jobs.jobs
                WHERE state = 'available' AND attempt = 0 AND finalized_at IS NULL AND lease_expires_at IS NULL
                  AND errors = '[]' AND run_at <= now()
                """, on: client) == 5)
        }
    }

    @Test func shutdownLetsShortJobsFinish() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let configuration = QT.configuration {
                $0.queues = ["default": 10]
                $0.shutdownTimeout = .seconds(5)
            }
            let daemon = QT.daemon(client, registry: try QT.registry(), configuration: configuration)
            // Long enough that the shutdown surely begins while they run.
            let ids = try await JobClient(client: client, logger: logger)
                .enqueue((0..<5).map { _ in try NewJob(DiagnosticWorkers.Sleep.Payload(ms: 1_000)) })
            let took = try await shutDownGracefully(daemon) {
                try await QT.waitUntil("SELECT count(*) = 5 FROM evently_jobs.jobs WHERE state = 'running'", on: client,
                                       "all 5 jobs to run")
            }
            #expect(took < .seconds(5))
            #expect(try await QT.count("""
                SELECT count(*) FROM evently_jobs.jobs
                WHERE id = ANY(\(ids)::bigint[]) AND state = 'completed' AND attempt = 1 AND errors = '[]'
                """, on: client) == 5)
        }
    }
}
