import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
@testable import Queue
import Synchronization
import Testing

/// q0005: finished jobs live in partitions of their own (by UTC day), the work in `jobs_unfinished`.
/// The migration moves an existing database's work and keeps its history in place; days are made
/// ahead and dropped whole; and statements that wait on a job's row while another transaction
/// moves it to another partition (PostgreSQL then fails them with 40001) still do what they did.
@Suite(.timeLimit(.minutes(5))) struct FinishedPartitionTests {
    let logger = TestDatabase.logger

    /// The partition (table) a job's row is in.
    static func partition(of id: Int64, on client: PostgresClient) async throws -> String {
        try await QT.scalar(String.self, "SELECT tableoid::regclass::text FROM evently_jobs.jobs WHERE id = \(id)", on: client)
    }

    static func dayPartition(_ daysFromToday: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let day = calendar.date(byAdding: .day, value: daysFromToday, to: Date())!
        let parts = calendar.dateComponents([.year, .month, .day], from: day)
        return String(format: "evently_jobs.jobs_finished_%04d%02d%02d", parts.year!, parts.month!, parts.day!)
    }

    static func exists(_ table: String, on client: PostgresClient) async throws -> Bool {
        try await QT.scalar(Bool.self, "SELECT to_regclass(\(table)) IS NOT NULL", on: client)
    }

    // MARK: The migration

    @Test func theMigrationMovesTheWorkAndKeepsTheHistoryWhereItIs() async throws {
        try await TestDatabase.withClient { client in
            let before = QueueSchema.migrations.filter { $0.version < 5 }
            try await SchemaMigrator(migrations: before, logger: logger).migrate(client)
            let jobs = JobClient(client: client, logger: logger)
            let keyed = try await jobs.enqueue(DiagnosticWorkers.Noop.Payload(), options: .init(uniqueKey: "nightly")).id
            let later = try await jobs.enqueue(DiagnosticWorkers.Noop.Payload(), options: .init(runAt: Date().addingTimeInterval(3600))).id
            let running = try await jobs.enqueue(DiagnosticWorkers.Sleep.Payload(ms: 5)).id
            try await QT.execute("""
                UPDATE evently_jobs.jobs SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = 'old',
                       lease_expires_at = now() + interval '1 minute'
                WHERE id = \(running)
                """, on: client)
            try await QT.execute(sql: """
                INSERT INTO evently_jobs.jobs (kind, state, attempt, finalized_at, args, errors)
                SELECT 'diag.noop', s, 1, now() - g * interval '1 day', jsonb_build_object('n', g),
                       CASE WHEN s = 'discarded' THEN '[{"attempt": 1, "error": "boom"}]'::jsonb ELSE '[]' END
                FROM generate_series(1, 30) AS g, unnest(ARRAY['completed', 'discarded', 'cancelled']) AS s
                """, on: client)
            let highest = try await QT.scalar(Int64.self, "SELECT max(id) FROM evently_jobs.jobs", on: client)
            let contents = "SELECT string_agg(id || state || args::text || errors::text || attempt, ',' ORDER BY id) FROM evently_jobs.jobs"
            let historyBefore = try await QT.scalar(String.self, PostgresQuery(unsafeSQL: contents), on: client)

            try await SchemaMigrator(migrations: QueueSchema.migrations, logger: logger).migrate(client)

            #expect(try await QT.scalar(String.self, PostgresQuery(unsafeSQL: contents), on: client) == historyBefore,
                    "every job is there, unchanged")
            for id in [keyed, later, running] {
                #expect(try await Self.partition(of: id, on: client) == "evently_jobs.jobs_unfinished")
            }
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs_finished_legacy", on: client) == 90)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs_unfinished", on: client) == 3)

            // The unique key is still held by its unfinished job, by one enqueue and by many.
            let again = try await jobs.enqueue(DiagnosticWorkers.Noop.Payload(), options: .init(uniqueKey: "nightly"))
            #expect(again.id == keyed && !again.inserted)
            let many = try await jobs.enqueue([
                try NewJob(DiagnosticWorkers.Noop.Payload(), options: .init(uniqueKey: "nightly")),
                try NewJob(DiagnosticWorkers.Noop.Payload()),
            ])
            #expect(many.count == 1)
            // Ids go on from where the identity stopped.
            let fresh = try await jobs.enqueue(DiagnosticWorkers.Noop.Payload()).id
            #expect(fresh > highest && many[0] > highest)

            // A job finishing now goes to today's partition; the next days' exist already.
            try await QT.execute("UPDATE evently_jobs.jobs SET state = 'completed', finalized_at = now() WHERE id = \(keyed)", on: client)
            #expect(try await Self.partition(of: keyed, on: client) == Self.dayPartition(0))
            for ahead in 1...3 { #expect(try await Self.exists(Self.dayPartition(ahead), on: client)) }
            // Its key is free again.
            #expect(try await jobs.enqueue(DiagnosticWorkers.Noop.Payload(), options: .init(uniqueKey: "nightly")).inserted)
            // And the job is read back through the partitioned table as before.
            #expect(try await jobs.job(id: keyed).state == .completed)
        }
    }

    // MARK: Days made ahead, dropped whole

    @Test func queuePruneDropsWholeDaysAndWhatFinishesWithoutADayGoesToTheDefault() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let done = try await jobs.enqueue(DiagnosticWorkers.Noop.Payload()).id
            try await QT.execute("UPDATE evently_jobs.jobs SET state = 'completed', finalized_at = now() WHERE id = \(done)", on: client)
            #expect(try await Self.partition(of: done, on: client) == Self.dayPartition(0))

            // A retention two days in the future: today's and tomorrow's days end before its cut-off.
            let worker = RetentionWorker(client: client, retention: .seconds(7 * 86_400))
            let context = JobContext(jobID: 1, kind: RetentionWorker.Payload.kind, queue: "default", attempt: 1, maxAttempts: 1, logger: logger)
            try await worker.work(RetentionWorker.Payload(retentionSeconds: -2 * 86_400), context: context)

            #expect(try await !Self.exists(Self.dayPartition(0), on: client), "today's partition was dropped")
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs WHERE id = \(done)", on: client) == 0)
            // The days after the cut-off are kept, and the run made those missing from tomorrow on.
            for ahead in 1...3 { #expect(try await Self.exists(Self.dayPartition(ahead), on: client)) }

            // Today has no partition now: what finishes today lands in the default partition,
            // and is read as any other job.
            let late = try await jobs.enqueue(DiagnosticWorkers.Noop.Payload()).id
            try await QT.execute("UPDATE evently_jobs.jobs SET state = 'completed', finalized_at = now() WHERE id = \(late)", on: client)
            #expect(try await Self.partition(of: late, on: client) == "evently_jobs.jobs_finished_default")
            #expect(try await jobs.job(id: late).state == .completed)
            // Nothing is missing: the run made the coming days again.
            #expect(try await client.withConnection { try await JobQueries.prepareFinishedPartitions(on: $0, logger: QT.logger) } == 0)
        }
    }

    /// q0006: with `at_most`, the oldest days go first and a call stops after that many (the
    /// prune drops one per transaction); called as q0005's daemons call it, without `at_most`,
    /// it still drops every day that ended before the cut-off.
    @Test func daysAreDroppedOldestFirstAndAtMostAsManyAsAsked() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            // Five days of the past, as after a week on q0005.
            try await QueueBenchmark.partitionHistoryByDay(days: 5, client: client, logger: logger)
            for past in -5 ... -1 { #expect(try await Self.exists(Self.dayPartition(past), on: client)) }

            // A retention of two days: the days 5, 4 and 3 days ago ended before its cut-off.
            let retention = Duration.seconds(2 * 86_400)
            let droppedFirst = try await client.withConnection {
                try await JobQueries.dropFinishedPartitions(retention: retention, atMost: 1, on: $0, logger: QT.logger)
            }
            #expect(droppedFirst == 1)
            #expect(try await !Self.exists(Self.dayPartition(-5), on: client), "the oldest day went first")
            #expect(try await Self.exists(Self.dayPartition(-4), on: client))

            #expect(try await QT.scalar(Int.self, """
                SELECT evently_jobs.drop_finished_partitions(now() - interval '2 days')
                """, on: client) == 2, "q0005's call: every day past the cut-off")
            for past in [-4, -3] { #expect(try await !Self.exists(Self.dayPartition(past), on: client)) }
            for kept in [-2, -1, 0] { #expect(try await Self.exists(Self.dayPartition(kept), on: client)) }
        }
    }

    /// The claim is a prepared statement, and after five runs PostgreSQL may plan it once for all
    /// values. Its generic plan must find the claimed jobs by id: joined to them, with the batch
    /// size a parameter, it once hashed every unfinished job (145 ms for a claim of 100 beside
    /// 290,000 unfinished jobs).
    @Test func theClaimsGenericPlanFindsTheClaimedJobsById() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            try await QT.execute("""
                INSERT INTO evently_jobs.jobs (kind, queue, state, run_at)
                SELECT 'diag.noop', 'default', 'available', now() - interval '1 second' FROM generate_series(1, 20000)
                """, on: client)
            try await QT.execute("ANALYZE evently_jobs.jobs_unfinished", on: client)
            try await client.withConnection { connection in
                try await connection.query("SET plan_cache_mode = force_generic_plan", logger: QT.logger)
                for _ in 1...3 {
                    let claimed = try await JobQueries.claim(queue: "default", kinds: ["diag.noop"], limit: 100, worker: "test",
                                                             lease: .seconds(60), on: connection, logger: QT.logger)
                    #expect(claimed.count == 100)
                }
                var plan: [String] = []
                let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                    EXPLAIN EXECUTE \(JobQueries.Claim.name)('default', '{diag.noop}', 100, 'test', 60000)
                    """), logger: QT.logger)
                for try await line in rows.decode(String.self) { plan.append(line) }
                let text = plan.joined(separator: "\n")
                #expect(text.contains("id = ANY"), "the UPDATE looks the claimed ids up:\n\(text)")
                #expect(!text.contains("Seq Scan on jobs_unfinished") && !text.contains("Hash Join"), "no job read but those claimed:\n\(text)")
            }
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs WHERE state = 'running'", on: client) == 300)
        }
    }

    /// A batch may carry a late report of an attempt that lost its job beside the report of the
    /// attempt that now runs it: the current one completes it, the late one changes nothing.
    @Test func aBatchWithALateAttemptBesideTheCurrentOneCompletesTheJob() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let current = try await Self.runningJob(client)
            try await QT.execute("UPDATE evently_jobs.jobs SET attempt = 2 WHERE id = \(current)", on: client)
            let stale = try await Self.runningJob(client)
            try await QT.execute("UPDATE evently_jobs.jobs SET attempt = 3 WHERE id = \(stale)", on: client)
            try await client.withConnection { connection in
                try await JobQueries.complete([FinishedAttempt(id: current, attempt: 1, newState: .completed),
                                               FinishedAttempt(id: current, attempt: 2, newState: .completed),
                                               FinishedAttempt(id: stale, attempt: 2, newState: .completed)],
                                              on: connection, logger: QT.logger)
            }
            #expect(try await QT.row(current, on: client).state == "completed")
            #expect(try await QT.row(stale, on: client).state == "running", "a report of attempt 2 leaves attempt 3 running")
        }
    }

    // MARK: Rows moved under a waiting statement

    /// Runs `move` (a statement that moves job `id` to another partition) in a transaction on a
    /// connection of its own, starts `waiter`, waits until the waiter is blocked by that
    /// transaction, then commits: the waiter then finds the row gone from where it looked.
    static func whileMoving<T: Sendable>(
        _ move: PostgresQuery, client: PostgresClient,
        waiter: @escaping @Sendable () async throws -> T
    ) async throws -> Result<T, any Error> {
        try await client.withConnection { mover in
            try await mover.query("BEGIN", logger: QT.logger)
            try await mover.query(move, logger: QT.logger)
            let moverPID = try await mover.query("SELECT pg_backend_pid()", logger: QT.logger).collect().first!.decode(Int32.self)
            let waiting = Task { () -> Result<T, any Error> in
                do { return .success(try await waiter()) } catch { return .failure(error) }
            }
            try await QT.waitUntil("""
                SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE \(moverPID) = ANY(pg_blocking_pids(pid)))
                """, on: client, "a statement waiting on the moving transaction")
            try await mover.query("COMMIT", logger: QT.logger)
            return await waiting.value
        }
    }

    static func runningJob(_ client: PostgresClient) async throws -> Int64 {
        let id = try await JobClient(client: client, logger: QT.logger).enqueue(DiagnosticWorkers.Noop.Payload()).id
        try await QT.execute("""
            UPDATE evently_jobs.jobs SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = 'test',
                   lease_expires_at = now() + interval '1 minute'
            WHERE id = \(id)
            """, on: client)
        return id
    }

    @Test func anOperatorsCancelWaitingOnACompletionIsToldTheJobCompleted() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let id = try await Self.runningJob(client)
            let jobs = JobClient(client: client, logger: logger)
            let outcome = try await Self.whileMoving(
                "UPDATE evently_jobs.jobs SET state = 'completed', finalized_at = now() WHERE id = \(id)", client: client) {
                try await jobs.cancel(id: id)
            }
            switch outcome {
            case .failure(QueueError.invalidState(_, let state, _)): #expect(state == .completed)
            default: Issue.record("expected the cancel to be refused for a completed job, got \(outcome)")
            }
            #expect(try await QT.row(id, on: client).state == "completed")
        }
    }

    @Test func aWorkersOwnershipCheckWaitingOnACancelSaysTheJobIsLost() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            for check in ["confirmOwnership", "complete"] {
                let id = try await Self.runningJob(client)
                let context = JobContext(jobID: id, kind: "diag.noop", queue: "default", attempt: 1, maxAttempts: 25, logger: logger)
                let outcome = try await Self.whileMoving(
                    "UPDATE evently_jobs.jobs SET state = 'cancelled', finalized_at = now() WHERE id = \(id)", client: client) {
                    try await client.withConnection { connection in
                        try await connection.transaction(logger: QT.logger) { connection in
                            if check == "complete" { try await context.complete(on: connection) }
                            else { try await context.confirmOwnership(on: connection) }
                        }
                    }
                }
                guard case .failure(let error) = outcome, error is JobNoLongerOwned else {
                    Issue.record("\(check): expected JobNoLongerOwned, got \(outcome)")
                    continue
                }
                #expect(try await QT.row(id, on: client).state == "cancelled")
            }
        }
    }

    @Test func theDaemonsWritesWaitingOnAMoveGoOnWithoutAnError() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            // A batch completion and a lease renewal, each waiting on an operator's cancel.
            let completed = try await Self.runningJob(client)
            let completion = try await Self.whileMoving(
                "UPDATE evently_jobs.jobs SET state = 'cancelled', finalized_at = now() WHERE id = \(completed)", client: client) {
                try await client.withConnection { connection in
                    try await JobQueries.complete([FinishedAttempt(id: completed, attempt: 1, newState: .completed)],
                                                  on: connection, logger: QT.logger)
                }
            }
            if case .failure(let error) = completion { Issue.record("the completion failed: \(String(reflecting: error))") }
            #expect(try await QT.row(completed, on: client).state == "cancelled", "the late completion changed nothing")

            let renewed = try await Self.runningJob(client)
            let renewal = try await Self.whileMoving(
                "UPDATE evently_jobs.jobs SET state = 'cancelled', finalized_at = now() WHERE id = \(renewed)", client: client) {
                try await client.withConnection { connection in
                    try await JobQueries.renewLeases([renewed: 1], lease: .seconds(60), on: connection, logger: QT.logger)
                }
            }
            switch renewal {
            case .success(let owned): #expect(owned.isEmpty, "the cancelled attempt is reported lost")
            case .failure(let error): Issue.record("the renewal failed: \(String(reflecting: error))")
            }
        }
    }

    /// Operators cancel jobs of 1 s while a daemon drains them, renewing leases every 2 s: completions,
    /// lease renewals and cancels keep meeting on rows that move between partitions. No cancel
    /// fails but for a job that already finished, every job ends finished, and no lease lapsed (a
    /// renewal that failed would have let the rescuer take jobs from the living daemon). (With
    /// the shortest lease, 2 s, renewed every 0.67 s, a CI machine running every suite at once
    /// once starved a renewal past its deadline.)
    @Test func cancelsRacingADrainLoseNothing() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations, maximumConnections: 30) { client in
            let jobs = JobClient(client: client, logger: logger)
            let ids = try await jobs.enqueue((0..<1_200).map { _ in try NewJob(DiagnosticWorkers.Sleep.Payload(ms: 1_000)) })
            let configuration = QT.configuration {
                $0.queues = ["default": 40]
                $0.lease = .seconds(6)
            }
            let daemon = QT.daemon(client, registry: try QT.registry(), configuration: configuration)
            let outcomes = CancelOutcomes()
            try await QT.withDaemon(daemon) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            for id in ids.shuffled().prefix(200) {
                                do {
                                    _ = try await jobs.cancel(id: id)
                                    outcomes.cancelled.withLock { $0 += 1 }
                                } catch QueueError.invalidState {
                                    // Finished (or cancelled by another operator) first.
                                } catch {
                                    outcomes.unexpected.withLock { $0.append(readableDescription(of: error)) }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                try await QT.waitUntil("""
                    SELECT NOT EXISTS (SELECT 1 FROM evently_jobs.jobs WHERE state IN ('available', 'scheduled', 'running', 'retryable'))
                    """, on: client, timeout: .seconds(90), "every job to finish")
            }
            #expect(outcomes.unexpected.withLock { $0 } == [])
            #expect(outcomes.cancelled.withLock { $0 } > 0)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs WHERE state IN ('completed', 'cancelled')", on: client) == 1_200)
            #expect(try await QT.count("""
                SELECT count(*) FROM evently_jobs.jobs WHERE errors @> '[{"kind": "rescued"}]'
                """, on: client) == 0, "no lease lapsed")
        }
    }
}

final class CancelOutcomes: Sendable {
    let cancelled = Mutex(0)
    let unexpected = Mutex<[String]>([])
}
