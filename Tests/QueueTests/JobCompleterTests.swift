import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
@testable import Queue
import Testing

/// `JobCompleter`: attempts' outcomes are written back in batches, fenced by attempt, also while
/// the daemon stops.
@Suite(.timeLimit(.minutes(5))) struct JobCompleterTests {
    let logger = TestDatabase.logger

    // MARK: Batching

    /// Outcomes that pile up while no write runs go out in one batch: one UPDATE for the
    /// completions and one for every other outcome, however many jobs; `run()` returns after
    /// `finish()` only once all of them are written.
    @Test func outcomesOfAThousandJobsAreWrittenInTwoStatements() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            // Counts statements, not rows, that update the jobs table.
            try await QT.execute(sql: "CREATE TABLE update_statements (at timestamptz NOT NULL DEFAULT clock_timestamp())", on: client)
            try await QT.execute(sql: """
                CREATE FUNCTION count_update_statement() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN INSERT INTO update_statements DEFAULT VALUES; RETURN NULL; END $$
                """, on: client)
            try await QT.execute(sql: """
                CREATE TRIGGER count_update_statements AFTER UPDATE ON evently_jobs.jobs
                FOR EACH STATEMENT EXECUTE FUNCTION count_update_statement()
                """, on: client)
            try await QT.execute(sql: """
                INSERT INTO evently_jobs.jobs (kind, args, state, attempt, attempted_at, attempted_by, lease_expires_at)
                SELECT 'diag.noop', '{}', 'running', 1, now(), 'completer-test', now() + interval '5 minutes'
                FROM generate_series(1, 1000)
                """, on: client)
            var ids: [Int64] = []
            for try await id in try await client.query("SELECT id FROM evently_jobs.jobs ORDER BY id", logger: logger)
                .decode(Int64.self) { ids.append(id) }
            #expect(ids.count == 1_000)

            let completer = JobCompleter(client: client, logger: logger)
            for (n, id) in ids.enumerated() {
                var outcome = FinishedAttempt(id: id, attempt: 1, newState: .completed)
                if n % 4 == 0 {
                    outcome.newState = .retryable
                    outcome.runAfter = .seconds(60)
                    outcome.errorJSON = #"{"attempt": 1, "kind": "error", "error": "planned"}"#
                }
                completer.report(outcome)
            }
            #expect(completer.backlog == 1_000)
            completer.finish()
            await completer.run()

            #expect(completer.backlog == 0)
            #expect(try await QT.count("""
                SELECT count(*) FROM evently_jobs.jobs
                WHERE state = 'completed' AND finalized_at IS NOT NULL AND lease_expires_at IS NULL
                """, on: client) == 750)
            #expect(try await QT.count("""
                SELECT count(*) FROM evently_jobs.jobs
                WHERE state = 'retryable' AND run_at > now() AND jsonb_array_length(errors) = 1
                """, on: client) == 250)
            #expect(try await QT.count("SELECT count(*) FROM update_statements", on: client) == 2)
        }
    }

    // MARK: Fencing

    @Test func operatorCancelOfARunningJobWins() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let timeline = Timeline()
            let registry = try QT.registry { try $0.register(SlowWorker(timeline: timeline)) }
            let jobs = JobClient(client: client, logger: logger)
            // Long enough that the cancel surely lands while it runs, on a loaded machine too
            // (500 ms, and once in CI 3 s, were seen to finish first).
            let id = try await jobs.enqueue(SlowPayload(ms: 10_000)).id
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                try await QT.waitForState(id, .running, on: client)
                let record = try await jobs.cancel(id: id)
                #expect(record.state == .cancelled)
                try await QT.waitFor("the worker to end") { timeline.end(of: id) != nil }
                // A job enqueued after the worker ended completes after its outcome was written.
                let marker = try await jobs.enqueue(NewJob(kind: "diag.noop")).id
                try await QT.waitForState(marker, .completed, on: client)
            }
            let row = try await QT.row(id, on: client)
            #expect(row.state == "cancelled", "the late success report must be ignored")
            #expect(row.finalized)
            #expect(try await QT.errorEntries(id, on: client).map(\.kind) == ["cancelled"])
        }
    }

    // MARK: Stopping

    /// A daemon stopped by cancelling its task (as a task group does) still writes the outcome
    /// of the work it has and returns. Its completer used to spin on CancellationError here,
    /// logging without pause and never returning.
    @Test func cancellingTheDaemonTaskWritesOutcomesAndReturns() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let id = try await jobs.enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": 400}"#)).id
            let daemon = QT.daemon(client, registry: try QT.registry(), configuration: QT.configuration())
            let running = Task { try await daemon.run() }
            try await QT.waitForState(id, .running, on: client)
            running.cancel()
            let returned = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask { _ = await running.result; return true }
                group.addTask { try await Task.sleep(for: .seconds(15)); return false }
                defer { group.cancelAll() }
                return try await group.next() ?? false
            }
            #expect(returned, "the daemon returned after its task was cancelled")
            let row = try await QT.row(id, on: client)
            #expect(row.state != "running", "the interrupted job's outcome was written (\(row.state))")
        }
    }
}
