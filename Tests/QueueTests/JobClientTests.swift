import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(5))) struct JobClientTests {
    let logger = TestDatabase.logger

    struct Boom: Error {}

    // MARK: Enqueue

    @Test func enqueueReturnsIdAndFillsDefaults() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let result = try await jobs.enqueue(NewJob(kind: "diag.noop"))
            #expect(result.inserted)
            #expect(result.id > 0)

            let rows = try await client.query("""
                SELECT id, kind, queue, priority, max_attempts, state, attempt, args::text,
                       unique_key, finalized_at IS NULL, run_at <= now()
                FROM evently_jobs.jobs
                """, logger: logger)
            var seen: [(Int64, String, String, Int, Int, String, Int, String, String?, Bool, Bool)] = []
            for try await row in rows.decode((Int64, String, String, Int, Int, String, Int, String, String?, Bool, Bool).self) {
                seen.append(row)
            }
            #expect(seen.count == 1)
            let (id, kind, queue, priority, maxAttempts, state, attempt, args, uniqueKey, notFinalized, due) = try #require(seen.first)
            #expect(id == result.id)
            #expect(kind == "diag.noop")
            #expect(queue == "default")
            #expect(priority == 0)
            #expect(maxAttempts == 25)
            #expect(state == "available")
            #expect(attempt == 0)
            #expect(args == "{}")
            #expect(uniqueKey == nil)
            #expect(notFinalized)
            #expect(due)

            let second = try await jobs.enqueue(DiagnosticWorkers.Sleep.Payload(ms: 5))
            #expect(second.inserted)
            #expect(second.id != result.id)
            let record = try await jobs.job(id: second.id)
            #expect(record.kind == "diag.sleep")
            #expect(record.args.replacingOccurrences(of: " ", with: "") == #"{"ms":5}"#)
        }
    }

    @Test func futureRunAtIsScheduled() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let runAt = Date().addingTimeInterval(3600)
            let later = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(runAt: runAt)))
            let delayed = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(delay: .seconds(600))))
            let now = try await jobs.enqueue(NewJob(kind: "diag.noop"))
            #expect(try await QT.scalar(String.self, "SELECT state FROM evently_jobs.jobs WHERE id = \(later.id)", on: client) == "scheduled")
            #expect(try await QT.scalar(String.self, "SELECT state FROM evently_jobs.jobs WHERE id = \(delayed.id)", on: client) == "scheduled")
            #expect(try await QT.scalar(String.self, "SELECT state FROM evently_jobs.jobs WHERE id = \(now.id)", on: client) == "available")
            let storedRunAt = try await QT.scalar(Date.self, "SELECT run_at FROM evently_jobs.jobs WHERE id = \(later.id)", on: client)
            #expect(abs(storedRunAt.timeIntervalSince(runAt)) < 0.001)

            // The batch path makes the same distinction.
            let ids = try await jobs.enqueue([
                NewJob(kind: "diag.noop", options: .init(runAt: runAt)),
                NewJob(kind: "diag.noop"),
            ])
            #expect(ids.count == 2)
            let states = try await client.query(
                "SELECT state FROM evently_jobs.jobs WHERE id = ANY(\(ids)::bigint[]) ORDER BY id", logger: logger)
            var batchStates: [String] = []
            for try await state in states.decode(String.self) { batchStates.append(state) }
            #expect(batchStates == ["scheduled", "available"])
        }
    }

    @Test func batchEnqueueOfTenThousandJobs() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let batch = (0..<10_000).map { NewJob(kind: "diag.sleep", argsJSON: #"{"ms": \#($0)}"#) }
            let ids = try await jobs.enqueue(batch)
            #expect(ids.count == 10_000)
            #expect(Set(ids).count == 10_000)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client) == 10_000)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs WHERE id = ANY(\(ids)::bigint[])", on: client) == 10_000)
            #expect(try await QT.count("""
                SELECT count(*) FROM evently_jobs.jobs
                WHERE state = 'available' AND queue = 'default' AND max_attempts = 25 AND priority = 0 AND run_at <= now()
                """, on: client) == 10_000)
            // Arguments arrive intact: the distinct ms values 0..<10000.
            #expect(try await QT.count("SELECT count(DISTINCT (args->>'ms')::int) FROM evently_jobs.jobs", on: client) == 10_000)
        }
    }

    @Test func argumentsThatAreNotAnObjectAreRefused() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            for args in ["[1]", "42", "not json", ""] {
                let error = await #expect(throws: QueueError.self, "args \(args)") {
                    try await jobs.enqueue(NewJob(kind: "diag.noop", argsJSON: args))
                }
                guard case .invalidArguments(let message)? = error else {
                    Issue.record("expected invalidArguments for \(args), got \(String(describing: error))")
                    continue
                }
                #expect(message.contains("JSON object"))
            }
            await #expect(throws: QueueError.self) {
                try await jobs.enqueue([NewJob(kind: "diag.noop"), NewJob(kind: "diag.noop", argsJSON: "[1]")])
            }
            let stored = try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client)
            #expect(stored == 0)
        }
    }

    // MARK: The SQL contract

    @Test func sqlEnqueueReturnsBigint() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let type = try await QT.scalar(String.self,
                "SELECT pg_typeof(evently_jobs.enqueue('diag.noop', '{}'))::text", on: client)
            #expect(type == "bigint")
            let id = try await QT.scalar(Int64.self, "SELECT evently_jobs.enqueue('diag.noop', '{}')", on: client)
            let row = try await QT.row(id, on: client)
            #expect(row.state == "available")
            #expect(row.maxAttempts == 25)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs WHERE kind = 'diag.noop'", on: client) == 2)
            // Named arguments, as the README shows.
            let named = try await QT.scalar(Int64.self, """
                SELECT evently_jobs.enqueue(kind => 'diag.sleep', args => '{"ms": 1}', queue => 'reports', priority => 5,
                                            run_at => now() + interval '1 hour', max_attempts => 3, unique_key => 'report:x')
                """, on: client)
            let record = try await JobClient(client: client, logger: logger).job(id: named)
            #expect(record.queue == "reports")
            #expect(record.priority == 5)
            #expect(record.maxAttempts == 3)
            #expect(record.state == .scheduled)
            #expect(record.uniqueKey == "report:x")
        }
    }

    @Test func sqlEnqueueWithHeldUniqueKeyReturnsTheHolder() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let first = try await QT.scalar(Int64.self,
                "SELECT evently_jobs.enqueue('diag.noop', '{}', unique_key => 'key-1')", on: client)
            let second = try await QT.scalar(Int64.self,
                "SELECT evently_jobs.enqueue('diag.noop', '{\"other\": 1}', unique_key => 'key-1')", on: client)
            #expect(second == first)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client) == 1)
            // enqueue_job says whether it inserted.
            let inserted = try await QT.scalar(Bool.self,
                "SELECT inserted FROM evently_jobs.enqueue_job('diag.noop', '{}', unique_key => 'key-1')", on: client)
            #expect(!inserted)
            // JobClient agrees.
            let viaClient = try await JobClient(client: client, logger: logger)
                .enqueue(NewJob(kind: "diag.noop", options: .init(uniqueKey: "key-1")))
            #expect(viaClient == EnqueueResult(id: first, inserted: false))
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client) == 1)
        }
    }

    @Test func uniqueKeyIsFreeAgainOnceItsJobFinished() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let first = try await QT.scalar(Int64.self,
                "SELECT evently_jobs.enqueue('diag.noop', '{}', unique_key => 'report:2026-11-25')", on: client)
            try await QT.execute(
                "UPDATE evently_jobs.jobs SET state = 'completed', finalized_at = now() WHERE id = \(first)", on: client)
            let second = try await QT.scalar(Int64.self,
                "SELECT evently_jobs.enqueue('diag.noop', '{}', unique_key => 'report:2026-11-25')", on: client)
            #expect(second != first)
            #expect(try await QT.count(
                "SELECT count(*) FROM evently_jobs.jobs WHERE unique_key = 'report:2026-11-25'", on: client) == 2)
            #expect(try await QT.scalar(String.self, "SELECT state FROM evently_jobs.jobs WHERE id = \(second)", on: client) == "available")
            // And the new holder blocks again.
            let third = try await QT.scalar(Int64.self,
                "SELECT evently_jobs.enqueue('diag.noop', '{}', unique_key => 'report:2026-11-25')", on: client)
            #expect(third == second)
        }
    }

    @Test func concurrentEnqueuesOfOneUniqueKeyInsertOnce() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations, maximumConnections: 20) { client in
            let jobs = JobClient(client: client, logger: logger)
            let results = try await withThrowingTaskGroup(of: EnqueueResult.self) { group in
                for n in 0..<20 {
                    group.addTask {
                        try await jobs.enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": \#(n)}"#,
                                                      options: .init(uniqueKey: "race")))
                    }
                }
                return try await group.reduce(into: [EnqueueResult]()) { $0.append($1) }
            }
            #expect(results.count == 20)
            #expect(results.filter(\.inserted).count == 1)
            #expect(Set(results.map(\.id)).count == 1)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs WHERE unique_key = 'race'", on: client) == 1)
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client) == 1)
        }
    }

    // MARK: Transactions

    @Test func rolledBackTransactionLeavesNoJob() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let logger = self.logger
            await #expect(throws: Boom.self) {
                try await client.withConnection { connection in
                    try await connection.transaction(logger: logger) { connection in
                        let result = try await JobClient.enqueue(NewJob(kind: "diag.noop"), on: connection, logger: logger)
                        #expect(result.inserted)
                        let ids = try await JobClient.enqueue([NewJob(kind: "diag.noop"), NewJob(kind: "diag.noop")],
                                                              on: connection, logger: logger)
                        #expect(ids.count == 2)
                        // Visible inside the transaction...
                        let inside = try await connection.query("SELECT count(*) FROM evently_jobs.jobs", logger: logger)
                            .collect().first?.decode(Int.self)
                        #expect(inside == 3)
                        throw Boom()
                    }
                }
            }
            // ...and gone after the rollback.
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client) == 0)

            // The same on commit keeps them.
            _ = try await client.withConnection { connection in
                try await connection.transaction(logger: logger) { connection in
                    try await JobClient.enqueue(NewJob(kind: "diag.noop"), on: connection, logger: logger)
                }
            }
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client) == 1)
        }
    }

    // MARK: Operator actions

    @Test func cancellingAnAvailableJob() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let id = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(uniqueKey: "cancel-me"))).id
            let record = try await jobs.cancel(id: id)
            #expect(record.state == .cancelled)
            #expect(record.finalizedAt != nil)
            let row = try await QT.row(id, on: client)
            #expect(row.state == "cancelled")
            #expect(row.finalized)
            let entries = try await QT.errorEntries(id, on: client)
            #expect(entries.last?.kind == "cancelled")
            // A finished job cannot be cancelled again.
            let error = await #expect(throws: QueueError.self) { try await jobs.cancel(id: id) }
            #expect(error == .invalidState(id: id, state: .cancelled, action: "cancelled"))
            await #expect(throws: QueueError.jobNotFound(999_999)) { try await jobs.cancel(id: 999_999) }
            // Its unique key is free again.
            #expect(try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(uniqueKey: "cancel-me"))).inserted)
        }
    }

    @Test func retryingADiscardedJobRunsItAgain() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let registry = try QT.registry()
            let id = try await jobs.enqueue(DiagnosticWorkers.Fail.Payload(times: 1), options: .init(maxAttempts: 1)).id

            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                try await QT.waitForState(id, .discarded, on: client)
            }
            let discarded = try await QT.row(id, on: client)
            #expect(discarded.attempt == 1)
            #expect(discarded.errorCount == 1)

            let record = try await jobs.retry(id: id)
            #expect(record.state == .available)
            #expect(record.finalizedAt == nil)
            #expect(record.maxAttempts == 2, "a job that ran out of attempts gets one more")

            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                try await QT.waitForState(id, .completed, on: client)
            }
            let completed = try await QT.row(id, on: client)
            #expect(completed.attempt == 2)
            #expect(completed.finalized)
            #expect(completed.errorCount == 1)
            // A completed job cannot be retried.
            let error = await #expect(throws: QueueError.self) { try await jobs.retry(id: id) }
            #expect(error == .invalidState(id: id, state: .completed, action: "retried"))
        }
    }

    @Test func pausedQueueIsNotClaimedUntilResumed() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let daemon = QT.daemon(client, registry: try QT.registry(), configuration: QT.configuration())
            try await QT.withDaemon(daemon) {
                try await QT.waitForListener(on: client)
                try await jobs.setPaused(true, queue: "default")
                let id = try await jobs.enqueue(NewJob(kind: "diag.noop")).id
                // Asserting an absence: give the daemon (100 ms poll, NOTIFY) half a second.
                try await Task.sleep(for: .milliseconds(500))
                let row = try await QT.row(id, on: client)
                #expect(row.state == "available")
                #expect(row.attempt == 0)
                #expect(try await jobs.status().first { $0.queue == "default" }?.paused == true)

                try await jobs.setPaused(false, queue: "default")
                try await QT.waitForState(id, .completed, on: client)
                #expect(try await QT.row(id, on: client).attempt == 1)
                #expect(try await jobs.status().first { $0.queue == "default" }?.paused == false)
            }
        }
    }

    @Test func statusCountsStates() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let a = try await jobs.enqueue(NewJob(kind: "diag.noop")).id
            _ = try await jobs.enqueue(NewJob(kind: "diag.noop"))
            _ = try await jobs.enqueue(NewJob(kind: "diag.noop"))
            _ = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(delay: .seconds(3600))))
            try await QT.execute("UPDATE evently_jobs.jobs SET state = 'completed', finalized_at = now() WHERE id = \(a)", on: client)
            // Another queue must not leak into 'default'.
            _ = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(queue: "other")))

            let status = try await jobs.status()
            let defaultQueue = try #require(status.first { $0.queue == "default" })
            #expect(defaultQueue.counts[.available] == 2)
            #expect(defaultQueue.counts[.scheduled] == 1)
            #expect(defaultQueue.counts[.completed] == 1)
            #expect((defaultQueue.counts[.running] ?? 0) == 0)
            #expect((defaultQueue.counts[.discarded] ?? 0) == 0)
            #expect(defaultQueue.completedRecently == 1)
            #expect(defaultQueue.paused == false)
            #expect(defaultQueue.recentWindowSeconds == 300)
            #expect(defaultQueue.oldestDueAgeSeconds != nil)
            let other = try #require(status.first { $0.queue == "other" })
            #expect(other.counts[.available] == 1)
            #expect(other.completedRecently == 0)
        }
    }
}

extension JobClientTests {
    @Test func batchEnqueueHonoursUniqueKeys() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let held = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(uniqueKey: "held")))
            let ids = try await jobs.enqueue([
                NewJob(kind: "diag.noop", options: .init(uniqueKey: "held")),
                NewJob(kind: "diag.noop", options: .init(uniqueKey: "fresh")),
                NewJob(kind: "diag.noop", options: .init(uniqueKey: "fresh")),
                NewJob(kind: "diag.noop", options: .init(priority: -3, maxAttempts: 2)),
            ])
            #expect(ids.count == 2, "the held key and the repeated key are left out")
            #expect(!ids.contains(held.id))
            #expect(try await QT.count("SELECT count(*) FROM evently_jobs.jobs", on: client) == 3)
            let rows = try await client.query("""
                SELECT coalesce(unique_key, '-'), priority, max_attempts
                FROM evently_jobs.jobs WHERE id = ANY(\(ids)::bigint[]) ORDER BY id
                """, logger: logger)
            var seen: [String] = []
            for try await (key, priority, maxAttempts) in rows.decode((String, Int, Int).self) {
                seen.append("\(key) \(priority) \(maxAttempts)")
            }
            #expect(seen == ["fresh 0 25", "- -3 2"])
        }
    }

    /// `EnqueueOptions.tags` are stored by the single-job path; the batch path must not drop them.
    @Test func batchEnqueueStoresTags() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let single = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(tags: ["x", "y"])))
            #expect(try await QT.scalar(String.self,
                "SELECT array_to_string(tags, ',') FROM evently_jobs.jobs WHERE id = \(single.id)", on: client) == "x,y")

            let ids = try await jobs.enqueue([
                NewJob(kind: "diag.noop", options: .init(tags: ["a", "b"])),
                NewJob(kind: "diag.noop", options: .init(tags: ["c"])),
                NewJob(kind: "diag.noop"),
            ])
            #expect(ids.count == 3)
            let rows = try await client.query(
                "SELECT array_to_string(tags, ',') FROM evently_jobs.jobs WHERE id = ANY(\(ids)::bigint[]) ORDER BY id",
                logger: logger)
            var tags: [String] = []
            for try await text in rows.decode(String.self) { tags.append(text) }
            #expect(tags == ["a,b", "c", ""])
        }
    }
}

extension JobClientTests {
    @Test func listFiltersNewestFirst() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let a = try await jobs.enqueue(NewJob(kind: "diag.noop")).id
            let b = try await jobs.enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": 1}"#)).id
            let c = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(queue: "reports"))).id
            _ = try await jobs.cancel(id: a)
            #expect(try await jobs.list().map(\.id) == [c, b, a])
            #expect(try await jobs.list(limit: 2).map(\.id) == [c, b])
            #expect(try await jobs.list(state: .cancelled).map(\.id) == [a])
            #expect(try await jobs.list(kind: "diag.noop").map(\.id) == [c, a])
            #expect(try await jobs.list(queue: "reports").map(\.id) == [c])
            #expect(try await jobs.list(state: .available, kind: "diag.noop").map(\.id) == [c])
            await #expect(throws: QueueError.jobNotFound(424_242)) { try await jobs.job(id: 424_242) }
        }
    }

    /// A text search over more history than one window: paging on with the cursor finds every
    /// match exactly once, newest first, whatever the time budget cut a page at; a count that
    /// is not partial is exact, a partial one never more than the matches.
    @Test func textSearchPagesThroughHistoryWindowByWindow() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let total = 5 * Int(JobClient.textSearchWindow)
            try await client.query("""
                INSERT INTO evently_jobs.jobs (kind, args, state, finalized_at)
                SELECT 'diag.noop', jsonb_build_object('n', n, 'who', CASE WHEN n % 9973 = 0 THEN 'Needle ' || n ELSE 'hay' END),
                       'completed', now()
                FROM generate_series(1, \(total)) AS n
                """, logger: logger)
            let expected = (1...total).filter { $0 % 9_973 == 0 }.reversed().map { "Needle \($0)" }
            let jobs = JobClient(client: client, logger: logger)
            var filter = JobFilter()
            filter.text = "needle"
            var found: [String] = []
            var before: Int64?
            var requests = 0
            repeat {
                let page = try await jobs.page(matching: filter, before: before, limit: 3)
                requests += 1
                found += page.jobs.map(\.args)
                    .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .compactMap { $0["who"] as? String }
                if page.jobs.count == 3 { before = page.jobs.last!.id } else { before = page.continueBelow }
                try #require(requests < 1_000)
            } while before != nil
            #expect(found == expected)

            let count = try await jobs.count(matching: filter)
            if count.partial {
                #expect(count.count <= expected.count)
                #expect(count.searchedFromID != nil)
            } else {
                #expect(count.count == expected.count)
            }
            filter.text = "nowhere to be found"
            var empty = try await jobs.page(matching: filter, limit: 3)
            var emptyRequests = 1
            while let below = empty.continueBelow {
                #expect(empty.jobs.isEmpty)
                empty = try await jobs.page(matching: filter, before: below, limit: 3)
                emptyRequests += 1
            }
            #expect(empty.jobs.isEmpty)
            #expect(emptyRequests <= 5, "each request reads at least one window")
        }
    }

    /// Retrying a finished job whose unique key another unfinished job now holds is refused with
    /// a clear error, and the job stays as it was (schemathesis found this as a 500).
    /// A job enqueued with the key while a bulk retry's batch runs is invisible to the batch's
    /// check; the batch then collides with it on the unique index and is run again, skipping the
    /// job instead of failing the whole action.
    @Test func aBulkRetryRacingAnEnqueueOfTheSameKeySkipsTheJob() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations, maximumConnections: 6) { client in
            let jobs = JobClient(client: client, logger: logger)
            let old = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(uniqueKey: "nightly"))).id
            let other = try await jobs.enqueue(NewJob(kind: "diag.noop")).id
            _ = try await jobs.cancel(id: old)
            _ = try await jobs.cancel(id: other)
            let (result, newer) = try await client.withConnection { holder in
                // Enqueued in a transaction still open while the bulk retry runs.
                try await holder.query("BEGIN", logger: logger)
                let newer = try await JobClient.enqueue([NewJob(kind: "diag.noop", options: .init(uniqueKey: "nightly"))],
                                                        on: holder, logger: logger)[0]
                async let retried = jobs.bulk(.retry, ids: [old, other])
                try await QT.waitUntil("""
                    SELECT count(*) > 0 FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock'
                    """, on: client, "the bulk retry to wait on the open transaction's key")
                try await holder.query("COMMIT", logger: logger)
                return (try await retried, newer)
            }
            #expect(result == BulkResult(action: .retry, matched: 2, changed: 1), "the other job retried, the held one skipped")
            #expect(try await jobs.job(id: old).state == .cancelled)
            #expect(try await jobs.job(id: other).state == .available)
            #expect(try await jobs.job(id: newer).state == .available)
        }
    }

    @Test func retryingAJobWhoseUniqueKeyIsHeldAgainSaysSo() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            let jobs = JobClient(client: client, logger: logger)
            let first = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(uniqueKey: "nightly"))).id
            _ = try await jobs.cancel(id: first)
            let second = try await jobs.enqueue(NewJob(kind: "diag.noop", options: .init(uniqueKey: "nightly"))).id
            #expect(second != first)
            await #expect(throws: QueueError.uniqueKeyHeld(id: first, key: "nightly")) { try await jobs.retry(id: first) }
            #expect(try await jobs.job(id: first).state == .cancelled)
            _ = try await jobs.cancel(id: second)
            #expect(try await jobs.retry(id: first).state == .available)
        }
    }
}
