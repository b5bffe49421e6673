import Foundation
import Logging
import PostgresNIO

/// Every statement on `evently_jobs.jobs`, in one place. Each takes the connection to run on,
/// so enqueues can share a caller's transaction.
enum JobQueries {
    /// ``JobState/unfinished`` as a SQL list: the states in which a unique key is held and a
    /// job still counts as work (the partial indexes of q0001_jobs.sql use the same list).
    static let unfinishedStates = sqlList(JobState.unfinished)
    /// The states a claim takes jobs from (when due).
    static let claimableStates = sqlList([.available, .scheduled, .retryable])
    static let finishedStates = sqlList(JobState.finished)

    private static func sqlList(_ states: [JobState]) -> String {
        states.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }

    /// Runs one statement (its own transaction) again when it failed because a row it waited on
    /// was moved to another partition by a concurrent transaction (a job finishing or retried,
    /// q0005). Unpartitioned, PostgreSQL re-read such a row and re-checked the statement's
    /// conditions; partitioned, it cannot follow the row and fails with 40001 instead. Run again,
    /// the statement sees the row where it now is. Not for a statement inside a longer
    /// transaction: the failure aborts the whole transaction.
    static func retryingMovedRows<Result>(_ statement: () async throws -> Result) async throws -> Result {
        var retries = 0
        while true {
            do {
                return try await statement()
            } catch let error as PSQLError where error.isRowMovedByConcurrentUpdate && retries < 20 {
                retries += 1
            }
        }
    }

    // MARK: Enqueue

    static func enqueue(_ job: NewJob, on connection: PostgresConnection, logger: Logger) async throws -> EnqueueResult {
        let options = job.options
        let rows = try await connection.openQuery("""
            SELECT id, inserted FROM evently_jobs.enqueue_job(
                \(job.kind)::text, \(job.argsJSON)::jsonb, \(options.queue)::text, \(options.priority)::int,
                coalesce(\(options.runAt)::timestamptz, now()), \(options.maxAttempts)::int, \(options.uniqueKey)::text,
                \(options.tags)::text[])
            """, logger: logger)
        for try await (id, inserted) in rows.decode((Int64, Bool).self) {
            return EnqueueResult(id: id, inserted: inserted)
        }
        throw QueueError.unexpected("enqueue_job returned no row")
    }

    /// Inserts many jobs in one statement: one array per column, unnested server-side.
    /// Unique keys are honoured (`ON CONFLICT DO NOTHING`); the ids of inserted rows are returned.
    /// Into `jobs_unfinished`, where the unique keys' index is (q0005): a new job is never finished.
    static func enqueueMany(_ jobs: [NewJob], on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard !jobs.isEmpty else { return [] }
        let epoch = Date(timeIntervalSince1970: 0)
        let kinds = jobs.map(\.kind)
        let args = jobs.map(\.argsJSON)
        let queues = jobs.map(\.options.queue)
        let priorities = jobs.map(\.options.priority)
        // A sentinel for "now" keeps the array free of NULLs; the server swaps in its own clock.
        let runAts = jobs.map { $0.options.runAt ?? epoch }
        let maxAttempts = jobs.map(\.options.maxAttempts)
        let uniqueKeys = jobs.map { $0.options.uniqueKey ?? "" }
        // Arrays cannot be ragged, so each job's tags travel as one JSON array.
        let tags = jobs.map { job in
            String(decoding: (try? JSONSerialization.data(withJSONObject: job.options.tags)) ?? Data("[]".utf8), as: UTF8.self)
        }
        let rows = try await connection.openQuery("""
            INSERT INTO evently_jobs.jobs_unfinished (kind, args, queue, priority, run_at, max_attempts, unique_key, tags, state)
            SELECT kind, args::jsonb, queue, priority, r.run_at, max_attempts, nullif(unique_key, ''),
                   CASE WHEN j.tags = '[]' THEN '{}'::text[] ELSE ARRAY(SELECT jsonb_array_elements_text(j.tags::jsonb)) END,
                   CASE WHEN r.run_at > now() THEN 'scheduled' ELSE 'available' END
            FROM unnest(\(kinds)::text[], \(args)::text[], \(queues)::text[], \(priorities)::int[],
                        \(runAts)::timestamptz[], \(maxAttempts)::int[], \(uniqueKeys)::text[], \(tags)::text[])
                 AS j(kind, args, queue, priority, requested_run_at, max_attempts, unique_key, tags)
            CROSS JOIN LATERAL (SELECT CASE WHEN j.requested_run_at = 'epoch' THEN now() ELSE j.requested_run_at END) AS r(run_at)
            ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN (\(unescaped: unfinishedStates))
            DO NOTHING
            RETURNING id
            """, logger: logger)
        var ids: [Int64] = []
        ids.reserveCapacity(jobs.count)
        for try await id in rows.decode(Int64.self) { ids.append(id) }
        return ids
    }

    // MARK: Claim and finish

    /// Claims up to `limit` due jobs of `queue` for `worker`, skipping rows other daemons hold.
    ///
    /// The CTE walks `jobs_claimable_idx` in (priority, run_at, id) order and stops after
    /// `limit` unlocked rows; `SKIP LOCKED` makes concurrent claimers take disjoint rows
    /// without waiting on each other. Claiming spends an attempt and starts the lease.
    /// Only jobs of `kinds` are claimed: a daemon never takes a job it has no worker for (during
    /// a rolling upgrade such jobs wait for a daemon that knows them).
    static func claim(queue: String, kinds: [String], limit: Int, worker: String, lease: Duration,
                      on connection: PostgresConnection, logger: Logger) async throws -> [ClaimedJob] {
        let claim = Claim(queue: queue, kinds: kinds, limit: limit, worker: worker,
                          leaseMilliseconds: Int64(lease.timeInterval * 1000))
        return try await retryingMovedRows {
            try await connection.run(claim, logger: logger)
                .sorted { ($0.priority, $0.id) < ($1.priority, $1.id) }
        }
    }

    /// ``claim(queue:kinds:limit:worker:lease:on:logger:)``: run for every claim, prepared
    /// (``StatementPreparation``). The claimable states are written out, not bound, so even a
    /// generic plan reads only `jobs_unfinished` and may use `jobs_claimable_idx`. The claimed
    /// ids are handed to the UPDATE as an array, not joined: with the limit a parameter, the
    /// generic plan expects many rows from `next` and joined them by hashing every unfinished
    /// job (145 ms for a claim of 100 beside 290,000 unfinished jobs, against 4 ms).
    struct Claim: PostgresPreparedStatement {
        static let name = "evently_jobs_claim"
        static let sql = """
            WITH next AS (
                SELECT id FROM evently_jobs.jobs
                WHERE queue = $1
                  AND state IN (\(claimableStates))
                  AND run_at <= now()
                  AND kind = ANY($2::text[])
                  AND NOT EXISTS (SELECT 1 FROM evently_jobs.queues p WHERE p.name = $1 AND p.paused)
                ORDER BY priority, run_at, id
                LIMIT $3
                FOR UPDATE SKIP LOCKED
            )
            UPDATE evently_jobs.jobs AS j
            SET state = 'running', attempt = j.attempt + 1, attempted_at = now(), attempted_by = $4,
                lease_expires_at = now() + $5 * interval '1 millisecond'
            WHERE j.id = ANY (ARRAY(SELECT id FROM next)) AND j.state IN (\(claimableStates))
            RETURNING j.id, j.kind, j.queue, j.args::text, j.attempt, j.max_attempts, j.priority
            """
        static let bindingDataTypes: [PostgresDataType] = [.text, .textArray, .int8, .text, .int8]
        let queue: String
        let kinds: [String]
        let limit: Int
        let worker: String
        let leaseMilliseconds: Int64

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 5)
            bindings.append(queue)
            bindings.append(kinds)
            bindings.append(Int64(limit))
            bindings.append(worker)
            bindings.append(leaseMilliseconds)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> ClaimedJob {
            let (id, kind, queue, args, attempt, maxAttempts, priority) = try row.decode((Int64, String, String, String, Int, Int, Int).self)
            return ClaimedJob(id: id, kind: kind, queue: queue, argsJSON: args, attempt: attempt,
                              maxAttempts: maxAttempts, priority: priority)
        }
    }

    /// Marks many jobs completed in one statement. The attempt guard ignores a late report for
    /// an attempt that was rescued and re-run elsewhere.
    static func complete(_ jobs: [FinishedAttempt], on connection: PostgresConnection, logger: Logger) async throws {
        guard !jobs.isEmpty else { return }
        let ids = jobs.map(\.id), attempts = jobs.map(\.attempt)
        // Not prepared: a generic plan of this join compared each completed job with every
        // running one. Nor in the `id = ANY` form, with the pairs in an EXISTS: that form locked
        // the rows in another order than the lease renewals' UPDATE, and with three daemons
        // draining 100,000 jobs the two deadlocked until renewals missed their deadline and a
        // living daemon's 21,310 jobs were rescued (NetworkNamespaceTests, 3 runs of 5).
        try await retryingMovedRows {
            try await connection.openQuery("""
                UPDATE evently_jobs.jobs AS j
                SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
                FROM unnest(\(ids)::bigint[], \(attempts)::int[]) AS d(id, attempt)
                WHERE j.id = d.id AND j.attempt = d.attempt AND j.state = 'running'
                """, logger: logger)
        }
    }

    /// ``claim(queue:kinds:limit:worker:lease:on:logger:)`` then ``complete(_:on:logger:)`` as a
    /// pgbench script (`-M simple`): the same two statements, each its own transaction, the
    /// claimed ids carried from one to the other with `\gset`. The baseline `evently-jobs bench`
    /// measures the daemon against; kept beside the statements it copies so the two change together.
    static func pgbenchClaimCompleteScript(queue: String, kind: String, batch: Int, lease: Duration) -> String {
        let leaseMilliseconds = Int(lease.timeInterval * 1000)
        return """
            WITH next AS (SELECT id FROM evently_jobs.jobs WHERE queue = '\(queue)' AND state IN (\(claimableStates)) AND run_at <= now() AND kind = ANY('{\(kind)}'::text[]) AND NOT EXISTS (SELECT 1 FROM evently_jobs.queues p WHERE p.name = '\(queue)' AND p.paused) ORDER BY priority, run_at, id LIMIT \(batch) FOR UPDATE SKIP LOCKED), claimed AS (UPDATE evently_jobs.jobs AS j SET state = 'running', attempt = j.attempt + 1, attempted_at = now(), attempted_by = 'pgbench', lease_expires_at = now() + \(leaseMilliseconds) * interval '1 millisecond' WHERE j.id = ANY (ARRAY(SELECT id FROM next)) AND j.state IN (\(claimableStates)) RETURNING j.id, j.kind, j.queue, j.args::text, j.attempt, j.max_attempts, j.priority) SELECT quote_literal(coalesce(array_agg(id), '{}')::text) AS ids, quote_literal(coalesce(array_agg(attempt), '{}')::text) AS attempts FROM claimed
            \\gset
            UPDATE evently_jobs.jobs AS j SET state = 'completed', finalized_at = now(), lease_expires_at = NULL FROM unnest(:ids::bigint[], :attempts::int[]) AS d(id, attempt) WHERE j.id = d.id AND j.attempt = d.attempt AND j.state = 'running';

            """
    }

    /// Writes every other outcome (retry, discard, cancel, snooze, hand-back) in one statement.
    static func finish(_ outcomes: [FinishedAttempt], on connection: PostgresConnection, logger: Logger) async throws {
        guard !outcomes.isEmpty else { return }
        let ids = outcomes.map(\.id)
        let attempts = outcomes.map(\.attempt)
        let states = outcomes.map(\.newState.rawValue)
        // Seconds from now until the next run; negative keeps run_at as it is.
        let delays = outcomes.map { $0.runAfter.map(\.timeInterval) ?? -1 }
        let errors = outcomes.map { $0.errorJSON ?? "" }
        let refunds = outcomes.map(\.refundsAttempt)
        try await retryingMovedRows {
            try await connection.openQuery("""
                UPDATE evently_jobs.jobs AS j
                SET state = f.state,
                    attempt = j.attempt - CASE WHEN f.refund THEN 1 ELSE 0 END,
                    run_at = CASE WHEN f.delay >= 0 THEN now() + f.delay * interval '1 second' ELSE j.run_at END,
                    finalized_at = CASE WHEN f.state IN (\(unescaped: finishedStates)) THEN now() END,
                    lease_expires_at = NULL,
                    errors = CASE WHEN f.error = '' THEN j.errors
                                  ELSE j.errors || jsonb_build_array(f.error::jsonb || jsonb_build_object('at', now())) END
                FROM unnest(\(ids)::bigint[], \(attempts)::int[], \(states)::text[], \(delays)::float8[],
                            \(errors)::text[], \(refunds)::bool[]) AS f(id, attempt, state, delay, error, refund)
                WHERE j.id = f.id AND j.attempt = f.attempt AND j.state = 'running'
                """, logger: logger)
        }
    }

    /// Completes one attempt's job on `connection`, inside the worker's own transaction.
    /// Returns false when the attempt no longer owns the job (cancelled, or rescued and re-run).
    /// A concurrent cancel or discard that moved the row to `jobs_finished` fails the statement
    /// (40001) rather than leaving it nothing to update; either way the attempt lost its job.
    static func completeOwned(id: Int64, attempt: Int, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        do {
            let rows = try await connection.openQuery("""
                UPDATE evently_jobs.jobs
                SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
                WHERE id = \(id) AND attempt = \(attempt) AND state = 'running'
                RETURNING id
                """, logger: logger)
            var updated = 0
            for try await _ in rows { updated += 1 }
            return updated == 1
        } catch let error as PSQLError where error.isRowMovedByConcurrentUpdate {
            return false
        }
    }

    /// Extends the leases of the attempts this daemon still holds (job id → attempt) and returns
    /// the ids it still owns: renewed, or completed by the attempt's own worker inside its
    /// transaction (``JobContext/complete(on:)``). An attempt left out lost its job: an operator
    /// cancelled it, or its lease lapsed and it was rescued (and perhaps claimed again elsewhere).
    /// Completions are looked for in the last day's partitions only (an attempt this daemon still
    /// holds finished moments ago), not in all of history.
    static func renewLeases(_ attempts: [Int64: Int], lease: Duration, on connection: PostgresConnection,
                            logger: Logger) async throws -> Set<Int64> {
        guard !attempts.isEmpty else { return [] }
        let leaseMilliseconds = Int(lease.timeInterval * 1000)
        let ids = Array(attempts.keys), numbers = ids.map { attempts[$0] ?? 0 }
        // A constant (not now()), so the planner reads and locks only the last days' partitions:
        // a renewal then never waits for a day of old history being dropped.
        let finishedSince = Date().addingTimeInterval(-86_400)
        return try await retryingMovedRows {
            let rows = try await connection.openQuery("""
                WITH held AS (
                    SELECT * FROM unnest(\(ids)::bigint[], \(numbers)::int[]) AS h(id, attempt)
                ), renewed AS (
                    UPDATE evently_jobs.jobs AS j SET lease_expires_at = now() + \(leaseMilliseconds) * interval '1 millisecond'
                    FROM held AS h
                    WHERE j.id = h.id AND j.attempt = h.attempt AND j.state = 'running'
                    RETURNING j.id
                )
                SELECT id FROM renewed
                UNION ALL
                SELECT j.id FROM evently_jobs.jobs AS j JOIN held AS h ON j.id = h.id AND j.attempt = h.attempt
                WHERE j.state = 'completed' AND j.finalized_at > \(finishedSince)::timestamptz
                """, logger: logger)
            var owned: Set<Int64> = []
            for try await id in rows.decode(Int64.self) { owned.insert(id) }
            return owned
        }
    }

    // MARK: Maintenance

    /// Returns jobs whose lease ran out (their daemon died) to `retryable`, or discards them
    /// when that was their last attempt. Returns the queues that got work back.
    static func rescueExpired(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        try await retryingMovedRows {
            let rows = try await connection.openQuery("""
                WITH stuck AS (
                    SELECT id FROM evently_jobs.jobs
                    WHERE state = 'running' AND lease_expires_at < now()
                    ORDER BY lease_expires_at
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE evently_jobs.jobs AS j
                SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'retryable' END,
                    finalized_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
                    run_at = now(), lease_expires_at = NULL,
                    errors = j.errors || jsonb_build_array(jsonb_build_object(
                        'attempt', j.attempt, 'at', now(), 'kind', 'rescued',
                        'error', 'lease expired: ' || coalesce(j.attempted_by, 'its daemon') || ' stopped renewing it'))
                FROM stuck WHERE j.id = stuck.id AND j.state = 'running'
                RETURNING j.queue
                """, logger: logger)
            var queues: [String] = []
            for try await queue in rows.decode(String.self) { queues.append(queue) }
            return queues
        }
    }

    /// Deletes up to `limit` jobs finished before `retention` ago; returns how many.
    static func prune(retention: Duration, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let seconds = retention.timeInterval
        return try await retryingMovedRows {
            let rows = try await connection.openQuery("""
                WITH old AS (
                    SELECT id FROM evently_jobs.jobs
                    WHERE state IN (\(unescaped: finishedStates))
                      AND finalized_at < now() - \(seconds) * interval '1 second'
                    LIMIT \(limit)
                    FOR UPDATE SKIP LOCKED
                )
                DELETE FROM evently_jobs.jobs AS j USING old
                WHERE j.id = old.id AND j.state IN (\(unescaped: finishedStates))
                  AND j.finalized_at < now() - \(seconds) * interval '1 second'
                RETURNING j.id
                """, logger: logger)
            var count = 0
            for try await _ in rows { count += 1 }
            return count
        }
    }

    /// Drops the days' partitions of finished jobs (q0005) that hold only jobs finished before
    /// `retention` ago, oldest first, at most `atMost` of them in this transaction (q0006);
    /// returns how many. Whole days go, without a row-by-row delete.
    static func dropFinishedPartitions(retention: Duration, atMost: Int, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let seconds = retention.timeInterval
        let rows = try await connection.openQuery(
            "SELECT evently_jobs.drop_finished_partitions(now() - \(seconds) * interval '1 second', \(atMost)::int)", logger: logger)
        for try await dropped in rows.decode(Int.self) { return dropped }
        return 0
    }

    /// Makes the days' partitions of finished jobs for the next days (q0005); returns how many
    /// were missing. Until they exist, jobs finishing on those days go to `jobs_finished_default`.
    static func prepareFinishedPartitions(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.openQuery("SELECT evently_jobs.prepare_finished_partitions()", logger: logger)
        for try await made in rows.decode(Int.self) { return made }
        return 0
    }

    /// The channel `enqueue` (q0001) and ``notify(queues:on:logger:)`` wake daemons on.
    static let notifyChannel = "evently_jobs"

    static func notify(queues: Set<String>, on connection: PostgresConnection, logger: Logger) async throws {
        guard !queues.isEmpty else { return }
        try await connection.openQuery(
            "SELECT pg_notify(\(notifyChannel), q) FROM unnest(\(Array(queues))::text[]) AS q", logger: logger)
    }

    // MARK: Operators

    /// Per queue, unfinished state and kind: the count, the age in seconds of the oldest job
    /// that is due and waiting, and whether no live daemon can run them (none works their queue
    /// with a worker for their kind; only said of waiting jobs, not running ones).
    ///
    /// One index-only scan of `jobs_attention_idx`, which carries state, queue, kind and run_at
    /// (q0004); the daemons are then checked once per group, not once per job.
    static func unfinishedGroups(on connection: PostgresConnection, logger: Logger) async throws -> [UnfinishedGroup] {
        let rows = try await connection.openQuery("""
            SELECT g.queue, g.state, g.kind, g.count, g.oldest_due_age,
                   g.state IN (\(unescaped: claimableStates)) AND NOT EXISTS (
                       SELECT 1 FROM evently_jobs.daemons AS d
                       WHERE d.expires_at > now() AND g.kind = ANY(d.kinds) AND d.queues ? g.queue)
            FROM (SELECT queue, state, kind, count(*)::bigint AS count,
                         extract(epoch FROM now() - min(run_at) FILTER (WHERE state <> 'running' AND run_at <= now()))::float8
                             AS oldest_due_age
                  FROM evently_jobs.jobs
                  WHERE state IN (\(unescaped: unfinishedStates))
                  GROUP BY queue, state, kind) AS g
            """, logger: logger)
        var groups: [UnfinishedGroup] = []
        for try await (queue, state, kind, count, oldest, without) in rows.decode((String, String, String, Int, Double?, Bool).self) {
            groups.append(UnfinishedGroup(queue: queue, state: state, kind: kind, count: count, oldestDueAge: oldest,
                                          withoutLiveWorker: without))
        }
        return groups
    }

    struct UnfinishedGroup {
        var queue: String
        var state: String
        var kind: String
        var count: Int
        var oldestDueAge: Double?
        var withoutLiveWorker: Bool
    }

    /// Per queue and finished state: jobs finished in the last `windowSeconds`.
    static func recentlyFinishedCounts(windowSeconds: Int, on connection: PostgresConnection, logger: Logger) async throws
        -> [(queue: String, state: String, count: Int)] {
        let rows = try await connection.openQuery("""
            SELECT queue, state, count(*)::bigint FROM evently_jobs.jobs
            WHERE state IN (\(unescaped: finishedStates))
              AND finalized_at > now() - \(windowSeconds) * interval '1 second'
            GROUP BY queue, state
            """, logger: logger)
        var counts: [(queue: String, state: String, count: Int)] = []
        for try await row in rows.decode((String, String, Int).self) { counts.append(row) }
        return counts
    }

    /// Every queue an operator has paused or resumed, with whether it is paused now.
    static func queuePauses(on connection: PostgresConnection, logger: Logger) async throws -> [(queue: String, paused: Bool)] {
        let rows = try await connection.openQuery("SELECT name, paused FROM evently_jobs.queues", logger: logger)
        var pauses: [(queue: String, paused: Bool)] = []
        for try await row in rows.decode((String, Bool).self) { pauses.append(row) }
        return pauses
    }

    static func setPaused(_ paused: Bool, queue: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.openQuery("""
            INSERT INTO evently_jobs.queues (name, paused) VALUES (\(queue), \(paused))
            ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = now()
            """, logger: logger)
    }

    static let recordColumns = """
        id, kind, queue, state, priority, attempt, max_attempts, args::text, run_at, created_at,
        attempted_at, attempted_by, finalized_at, unique_key, errors::text
        """

    /// Jobs matching the filters (each `nil` matches all), newest first.
    static func records(state: JobState?, kind: String?, queue: String?, limit: Int,
                        on connection: PostgresConnection, logger: Logger) async throws -> [JobRecord] {
        let rows = try await connection.openQuery("""
            SELECT \(unescaped: recordColumns) FROM evently_jobs.jobs
            WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
              AND (\(kind)::text IS NULL OR kind = \(kind))
              AND (\(queue)::text IS NULL OR queue = \(queue))
            ORDER BY id DESC LIMIT \(limit)
            """, logger: logger)
        return try await decodeRecords(rows)
    }

    static func record(id: Int64, on connection: PostgresConnection, logger: Logger) async throws -> JobRecord? {
        let rows = try await connection.openQuery(
            "SELECT \(unescaped: recordColumns) FROM evently_jobs.jobs WHERE id = \(id)", logger: logger)
        return try await decodeRecords(rows).first
    }

    /// Locks one job for an operator's change and returns its state and queue; nil when there is no such job.
    static func lockForChange(id: Int64, on connection: PostgresConnection, logger: Logger) async throws
        -> (state: JobState, queue: String)? {
        let rows = try await connection.openQuery(
            "SELECT state, queue FROM evently_jobs.jobs WHERE id = \(id) FOR UPDATE", logger: logger)
        for try await (state, queue) in rows.decode((String, String).self) {
            guard let parsed = JobState(rawValue: state) else { throw QueueError.unexpected("job \(id) has unknown state '\(state)'") }
            return (parsed, queue)
        }
        return nil
    }

    /// Makes a job due now, with one more attempt if it had spent them all.
    /// Throws ``QueueError/uniqueKeyHeld(id:key:)`` when another unfinished job holds the job's
    /// unique key (jobs_unique_key_idx covers unfinished jobs only).
    static func retryNow(id: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        do {
            try await connection.openQuery("""
                UPDATE evently_jobs.jobs
                SET state = 'available', run_at = now(), finalized_at = NULL,
                    max_attempts = greatest(max_attempts, attempt + 1)
                WHERE id = \(id)
                """, logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
            // The detail reads "Key (unique_key)=(<key>) already exists."
            let key = error.serverInfo?[.detail].flatMap { detail in
                guard let start = detail.range(of: "=("), let end = detail.range(of: ") already exists", options: .backwards),
                      start.upperBound <= end.lowerBound else { return nil }
                return String(detail[start.upperBound..<end.lowerBound])
            } ?? ""
            throw QueueError.uniqueKeyHeld(id: id, key: key)
        }
    }

    /// Cancels a job for an operator; a running attempt's late report is then ignored.
    static func cancelByOperator(id: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.openQuery("""
            UPDATE evently_jobs.jobs
            SET state = 'cancelled', finalized_at = now(), lease_expires_at = NULL,
                errors = errors || jsonb_build_array(jsonb_build_object(
                    'attempt', attempt, 'at', now(), 'kind', 'cancelled', 'error', 'cancelled by an operator'))
            WHERE id = \(id)
            """, logger: logger)
    }

    static func decodeRecords(_ rows: PostgresRowSequence) async throws -> [JobRecord] {
        var records: [JobRecord] = []
        for try await row in rows {
            let (id, kind, queue, state, priority, attempt, maxAttempts, args, runAt, createdAt) =
                try row.decode((Int64, String, String, String, Int, Int, Int, String, Date, Date).self, context: .default)
            let columns = row.makeRandomAccess()
            let errorsText = try columns[14].decode(String.self, context: .default)
            let errors = (try? JSONDecoder().decode([JobRecord.AttemptError].self, from: Data(errorsText.utf8))) ?? []
            records.append(JobRecord(
                id: id, kind: kind, queue: queue, state: JobState(rawValue: state) ?? .available, priority: priority,
                attempt: attempt, maxAttempts: maxAttempts, args: args, runAt: runAt, createdAt: createdAt,
                attemptedAt: try columns[10].decode(Date?.self, context: .default),
                attemptedBy: try columns[11].decode(String?.self, context: .default),
                finalizedAt: try columns[12].decode(Date?.self, context: .default),
                uniqueKey: try columns[13].decode(String?.self, context: .default),
                errors: errors))
        }
        return records
    }

    // MARK: Daemons

    /// Records that daemon `name` is alive until `ttl` from now, with what it runs.
    static func heartbeat(name: String, host: String, pid: Int, version: String, queues: [String: Int], kinds: [String],
                          ttl: Duration, on connection: PostgresConnection, logger: Logger) async throws {
        let queuesJSON = String(decoding: try JSONEncoder().encode(queues), as: UTF8.self)
        let ttlMilliseconds = Int(ttl.timeInterval * 1000)
        try await connection.openQuery("""
            INSERT INTO evently_jobs.daemons AS d (name, host, pid, version, queues, kinds, expires_at)
            VALUES (\(name), \(host), \(pid), \(version), \(queuesJSON)::jsonb, \(kinds)::text[],
                    now() + \(ttlMilliseconds) * interval '1 millisecond')
            ON CONFLICT (name) DO UPDATE
            SET heartbeat_at = now(), expires_at = excluded.expires_at, version = excluded.version,
                queues = excluded.queues, kinds = excluded.kinds,
                started_at = CASE WHEN d.expires_at < now() THEN now() ELSE d.started_at END
            """, logger: logger)
        // Rows of daemons gone for a day are history nobody reads.
        try await connection.openQuery(
            "DELETE FROM evently_jobs.daemons WHERE expires_at < now() - interval '1 day'", logger: logger)
    }

    static func removeDaemon(name: String, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.openQuery("DELETE FROM evently_jobs.daemons WHERE name = \(name)", logger: logger)
    }

    /// Daemons whose heartbeat has not expired, oldest first.
    static func liveDaemons(on connection: PostgresConnection, logger: Logger) async throws -> [DaemonRecord] {
        let rows = try await connection.openQuery("""
            SELECT name, host, pid, version, started_at, heartbeat_at, queues::text, kinds
            FROM evently_jobs.daemons WHERE expires_at > now() ORDER BY started_at, name
            """, logger: logger)
        var daemons: [DaemonRecord] = []
        for try await (name, host, pid, version, startedAt, heartbeatAt, queuesJSON, kinds)
            in rows.decode((String, String, Int, String, Date, Date, String, [String]).self) {
            let queues = (try? JSONDecoder().decode([String: Int].self, from: Data(queuesJSON.utf8))) ?? [:]
            daemons.append(DaemonRecord(name: name, host: host, pid: pid, version: version, startedAt: startedAt,
                                        heartbeatAt: heartbeatAt, queues: queues, kinds: kinds))
        }
        return daemons
    }

    // MARK: Benchmarks

    /// Jobs not yet finished, read through the partial index (cheap however much history there is).
    /// Each half matches a partial index's predicate (claimable, running), so it stops at the
    /// first live entry. A count of 100,000 unfinished jobs took 40 ms on an empty table and 76 ms
    /// beside 5 million finished jobs, with two parallel workers: polled every 50 ms during a
    /// drain, it took part of a core from the drain it was timing.
    static func anyUnfinished(on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.openQuery("""
            SELECT EXISTS (SELECT 1 FROM evently_jobs.jobs WHERE state IN (\(unescaped: claimableStates)))
                OR EXISTS (SELECT 1 FROM evently_jobs.jobs WHERE state = 'running')
            """, logger: logger)
        for try await any in rows.decode(Bool.self) { return any }
        return false
    }

    /// Sessions listening for job notifications (a running daemon has one).
    static func listenerCount(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.openQuery("""
            SELECT count(*)::bigint FROM pg_stat_activity
            WHERE datname = current_database() AND query LIKE 'LISTEN%evently_jobs%'
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// Connections of this database user to this database per state label (`active`, `idle`,
    /// `idle_in_transaction`), counting only client backends whose `application_name` is this
    /// connection's own: a pool given a name of its own is counted alone (the caller's
    /// connection, active, included).
    static func databaseConnections(on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.openQuery("""
            SELECT CASE WHEN state LIKE 'idle in transaction%' THEN 'idle_in_transaction' ELSE state END, count(*)::bigint
            FROM pg_stat_activity
            WHERE datname = current_database() AND usename = current_user AND backend_type = 'client backend'
              AND application_name = current_setting('application_name')
              AND state IN ('active', 'idle', 'idle in transaction', 'idle in transaction (aborted)')
            GROUP BY 1
            """, logger: logger)
        var counts: [String: Int] = [:]
        for try await (state, count) in rows.decode((String, Int).self) { counts[state, default: 0] += count }
        return counts
    }

    /// Deletes every job and refreshes the planner's statistics (between benchmark rounds).
    static func deleteAll(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.openQuery("TRUNCATE evently_jobs.jobs", logger: logger)
        try await analyze(on: connection, logger: logger)
    }

    /// Reclaims dead rows and refreshes the planner's statistics of the jobs table.
    static func analyze(on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.openQuery("VACUUM ANALYZE evently_jobs.jobs", logger: logger)
    }

    /// Locks an attempt's job row inside the caller's transaction when the attempt still owns
    /// the job: running, under this attempt, and its lease not yet lapsed by the database's clock
    /// now (not the transaction's start). Until the caller commits, neither a rescue nor an
    /// operator can take the job away, so whatever the caller writes commits only while it
    /// owned the job. Returns false when it does not own it.
    /// A row moved to `jobs_finished` while the lock waited for it (40001) was cancelled or
    /// discarded: not owned either.
    static func lockOwned(id: Int64, attempt: Int, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        do {
            return try await !connection.run(LockOwned(id: id, attempt: attempt), logger: logger).isEmpty
        } catch let error as PSQLError where error.isRowMovedByConcurrentUpdate {
            return false
        }
    }

    /// Run by every worker that writes in its own transaction, and before every message sent:
    /// prepared (``StatementPreparation``).
    struct LockOwned: PostgresPreparedStatement {
        static let name = "evently_jobs_lock_owned"
        static let sql = JobContext.ownershipLockSQL(jobID: "$1", attempt: "$2")
        static let bindingDataTypes: [PostgresDataType] = [.int8, .int4]
        let id: Int64
        let attempt: Int

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 2)
            bindings.append(id)
            bindings.append(Int32(attempt))
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws {}
    }
}

// MARK: Operators' console

/// A statement put together from the fields a ``JobFilter`` sets, with their values bound as `$n`.
struct BoundSQL {
    private(set) var binds = PostgresBindings()

    /// Binds `value` and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// The statement `sql` with the values bound so far. Bind every value before this call:
    /// a `bind` inside `sql`'s interpolation would run after this copy of the binds was taken.
    func query(_ sql: String) -> PostgresQuery {
        PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}

extension JobQueries {
    /// The most jobs one bulk statement touches: each batch is its own short transaction.
    static let bulkBatchSize = 1_000
    /// How far a time filter trusts `id` order to follow `created_at` order: a job whose
    /// enqueuing transaction ran longer than this between its start and the insert may be
    /// missed at the edge of a `since`/`until` range.
    static let creationSkew = "interval '5 minutes'"

    /// The conditions of `filter` on an unaliased `evently_jobs.jobs`, for a `WHERE` (`true` when
    /// it sets nothing). States are inlined (an enum's values) so the planner sees them and may
    /// use the partial indexes whose predicate they imply (`jobs_attention_idx`,
    /// `jobs_discarded_idx`, `jobs_claimable_idx`).
    ///
    /// A time range also bounds `id` through `jobs_created_idx`: one probe finds the job created
    /// last before `since` (first after `until`), give or take ``creationSkew``, and the scan in
    /// `id` order then stays inside the range instead of filtering through all of history.
    ///
    /// `idBounds: false` leaves out those id bounds: a count of a time range and nothing else
    /// then reads `jobs_created_idx` alone (an index-only scan) rather than the rows of the range.
    static func conditions(_ filter: JobFilter, _ sql: inout BoundSQL, idBounds: Bool = true) -> [String] {
        var conditions: [String] = []
        if !filter.states.isEmpty {
            conditions.append("state IN (\(sqlList(filter.states)))")
        }
        if let kind = filter.kind { conditions.append("kind = \(sql.bind(kind))") }
        if let queue = filter.queue { conditions.append("queue = \(sql.bind(queue))") }
        if let since = filter.since {
            let placeholder = sql.bind(since)
            conditions.append("created_at >= \(placeholder)::timestamptz")
            if idBounds { conditions.append("""
                id > coalesce((SELECT b.id FROM evently_jobs.jobs AS b
                               WHERE b.created_at < \(placeholder)::timestamptz - \(creationSkew)
                               ORDER BY b.created_at DESC LIMIT 1), 0)
                """) }
        }
        if let until = filter.until {
            let placeholder = sql.bind(until)
            conditions.append("created_at < \(placeholder)::timestamptz")
            if idBounds { conditions.append("""
                id < coalesce((SELECT b.id FROM evently_jobs.jobs AS b
                               WHERE b.created_at >= \(placeholder)::timestamptz + \(creationSkew)
                               ORDER BY b.created_at LIMIT 1), 9223372036854775807)
                """) }
        }
        if let text = filter.text {
            let placeholder = sql.bind(text)
            conditions.append("""
                (strpos(lower(args::text), lower(\(placeholder)::text)) > 0
                 OR strpos(lower(errors::text), lower(\(placeholder)::text)) > 0)
                """)
        }
        if let lastError = filter.lastError {
            conditions.append("coalesce(left(errors -> -1 ->> 'error', \(FailureGroup.errorLength)), '') = \(sql.bind(lastError))::text")
        }
        return conditions.isEmpty ? ["true"] : conditions
    }

    /// One page of the jobs matching `filter`, newest first, with ids below `before`.
    ///
    /// ```sql
    /// SELECT ... FROM evently_jobs.jobs WHERE <filter> AND id < $before ORDER BY id DESC LIMIT $limit
    /// ```
    /// Walks an index in `id` order and stops after `limit` matches: the primary key, or
    /// `jobs_attention_idx` when the states leave out `completed`, `jobs_kind_id_idx` /
    /// `jobs_queue_id_idx` for a kind or queue. Text (`q`) and `error` are checked row by row
    /// on what that walk reads, so a rare text reads far back (see ``JobClient/jobs(matching:before:limit:)``).
    ///
    /// `from` bounds the walk from below (ids at least it): a text search reads history one
    /// window of ids at a time (``JobClient/page(matching:before:limit:)``).
    static func records(matching filter: JobFilter, before: Int64?, from lowest: Int64? = nil, limit: Int,
                        on connection: PostgresConnection, logger: Logger) async throws -> [JobRecord] {
        var sql = BoundSQL()
        var conditions = conditions(filter, &sql)
        if let before { conditions.append("id < \(sql.bind(before))") }
        if let lowest { conditions.append("id >= \(sql.bind(lowest))") }
        let limit = sql.bind(limit)
        let rows = try await connection.openQuery(sql.query("""
            SELECT \(recordColumns) FROM evently_jobs.jobs
            WHERE \(conditions.joined(separator: "\n  AND "))
            ORDER BY id DESC
            LIMIT \(limit)
            """), logger: logger)
        return try await decodeRecords(rows)
    }

    /// How many jobs match `filter`, counting no further than `cap` + 1 (the same index walks
    /// as ``records(matching:before:limit:on:logger:)``).
    /// `ids` bounds the count to one window of ids (a text search's, as in ``records(matching:before:from:limit:on:logger:)``).
    static func count(matching filter: JobFilter, cap: Int, ids: Range<Int64>? = nil,
                      on connection: PostgresConnection, logger: Logger) async throws -> Int {
        var sql = BoundSQL()
        var timeOnly = filter
        timeOnly.since = nil
        timeOnly.until = nil
        // A time range alone: counted in jobs_created_idx (index-only); the id bounds would make
        // the planner walk the primary key and read each row of the range for its created_at.
        var conditions = conditions(filter, &sql, idBounds: !timeOnly.isEmpty)
        if let ids {
            conditions.append("id >= \(sql.bind(ids.lowerBound))")
            conditions.append("id < \(sql.bind(ids.upperBound))")
        }
        let limit = sql.bind(cap + 1)
        let rows = try await connection.openQuery(sql.query("""
            SELECT count(*)::bigint FROM (
                SELECT 1 FROM evently_jobs.jobs
                WHERE \(conditions.joined(separator: "\n      AND "))
                LIMIT \(limit)
            ) AS matched
            """), logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// The lowest and highest job id; `nil` when there is no job. Two probes of the primary key.
    static func idRange(on connection: PostgresConnection, logger: Logger) async throws -> ClosedRange<Int64>? {
        let rows = try await connection.openQuery("SELECT min(id), max(id) FROM evently_jobs.jobs", logger: logger)
        for try await (lowest, highest) in rows.decode((Int64?, Int64?).self) {
            guard let lowest, let highest else { return nil }
            return lowest...highest
        }
        return nil
    }

    /// What one bulk batch did, and where the next one starts.
    struct BulkBatch {
        var matched: Int
        /// The lowest id the batch matched; the next batch takes ids below it.
        var lowestID: Int64?
        var changed: Int
        /// Queues that got work back (retry), to wake.
        var queues: [String]
    }

    /// Applies `action` to up to ``bulkBatchSize`` jobs, in one statement (its own short
    /// transaction): those of `ids`, or the newest matching `filter` below `before`.
    ///
    /// ```sql
    /// WITH matched AS (SELECT id, unique_key FROM evently_jobs.jobs WHERE <ids or filter> ORDER BY id DESC LIMIT 1000),
    ///      target  AS (SELECT ... JOIN matched ... WHERE state IN (<allowed>) FOR UPDATE SKIP LOCKED),
    ///      changed AS (UPDATE / DELETE ... FROM target RETURNING queue)
    /// SELECT <counts>
    /// ```
    /// `SKIP LOCKED`: a row a daemon is writing this instant (a renewal, a completion) is left
    /// as it is and counts as matched, not changed, rather than the batch waiting on it or
    /// deadlocking with the completer's multi-row updates. The state is checked again on the
    /// locked row, so a job that finished meanwhile is not retried or cancelled by mistake.
    /// Index use is that of ``records(matching:before:limit:on:logger:)``, or the primary key for ids.
    static func bulk(_ action: BulkAction, ids: [Int64]?, filter: JobFilter, before: Int64?,
                     on connection: PostgresConnection, logger: Logger) async throws -> BulkBatch {
        var sql = BoundSQL()
        var conditions: [String]
        if let ids {
            conditions = ["id = ANY(\(sql.bind(ids))::bigint[])"]
        } else {
            conditions = Self.conditions(filter, &sql)
        }
        if let before { conditions.append("id < \(sql.bind(before))") }
        var target = "j.state IN (\(sqlList(action.allowedFrom)))"
        if action == .retry {
            // A retried job takes its unique key back: not while another unfinished job holds
            // it, and only the newest of the batch's jobs sharing a key.
            target += """

                  AND (m.unique_key IS NULL OR (
                      NOT EXISTS (SELECT 1 FROM evently_jobs.jobs AS o
                                  WHERE o.unique_key = m.unique_key AND o.id <> m.id AND o.state IN (\(unfinishedStates)))
                      AND NOT EXISTS (SELECT 1 FROM matched AS n WHERE n.unique_key = m.unique_key AND n.id > m.id)))
                """
        }
        let change: String
        switch action {
        case .retry:
            change = """
                UPDATE evently_jobs.jobs AS j
                    SET state = 'available', run_at = now(), finalized_at = NULL,
                        max_attempts = greatest(j.max_attempts, j.attempt + 1)
                    FROM target AS t WHERE j.id = t.id
                    RETURNING j.queue
                """
        case .cancel:
            change = """
                UPDATE evently_jobs.jobs AS j
                    SET state = 'cancelled', finalized_at = now(), lease_expires_at = NULL,
                        errors = j.errors || jsonb_build_array(jsonb_build_object(
                            'attempt', j.attempt, 'at', now(), 'kind', 'cancelled', 'error', 'cancelled by an operator'))
                    FROM target AS t WHERE j.id = t.id
                    RETURNING j.queue
                """
        case .delete:
            change = """
                DELETE FROM evently_jobs.jobs AS j USING target AS t WHERE j.id = t.id
                    RETURNING j.queue
                """
        }
        let rows = try await connection.openQuery(sql.query("""
            WITH matched AS (
                SELECT id, unique_key FROM evently_jobs.jobs
                WHERE \(conditions.joined(separator: "\n      AND "))
                ORDER BY id DESC
                LIMIT \(bulkBatchSize)
            ), target AS (
                SELECT j.id FROM evently_jobs.jobs AS j JOIN matched AS m ON m.id = j.id
                WHERE \(target)
                FOR UPDATE OF j SKIP LOCKED
            ), changed AS (
                \(change)
            )
            SELECT (SELECT count(*) FROM matched)::bigint, (SELECT min(id) FROM matched),
                   (SELECT count(*) FROM changed)::bigint, ARRAY(SELECT DISTINCT queue FROM changed)
            """), logger: logger)
        for try await (matched, lowest, changed, queues) in rows.decode((Int, Int64?, Int, [String]).self) {
            return BulkBatch(matched: matched, lowestID: lowest, changed: changed, queues: queues)
        }
        throw QueueError.unexpected("the bulk statement returned no row")
    }

    /// Discarded and retrying jobs grouped by kind and the first ``FailureGroup/errorLength``
    /// characters of their last error, most frequent first.
    ///
    /// Discarded jobs since `since` come from `jobs_discarded_idx` (by `finalized_at`), retrying
    /// ones from `jobs_claimable_idx` (only unfinished jobs are in it); each is then read for its
    /// last error, so the cost follows the failures in the window, not the history.
    static func failureGroups(since: Date, queue: String?, kind: String?, limit: Int,
                              on connection: PostgresConnection, logger: Logger) async throws -> [FailureGroup] {
        var sql = BoundSQL()
        var narrow = ""
        if let queue { narrow += " AND queue = \(sql.bind(queue))" }
        if let kind { narrow += " AND kind = \(sql.bind(kind))" }
        let from = sql.bind(since)
        let groupLimit = sql.bind(limit)
        let rows = try await connection.openQuery(sql.query("""
            WITH failed AS (
                SELECT id, kind, state, finalized_at AS seen_at, errors -> -1 ->> 'error' AS error
                FROM evently_jobs.jobs
                WHERE state = 'discarded' AND finalized_at >= \(from)::timestamptz\(narrow)
                UNION ALL
                SELECT id, kind, state, coalesce(attempted_at, created_at), errors -> -1 ->> 'error'
                FROM evently_jobs.jobs
                WHERE state = 'retryable' AND coalesce(attempted_at, created_at) >= \(from)::timestamptz\(narrow)
            )
            SELECT kind, coalesce(left(error, \(FailureGroup.errorLength)), '') AS message, count(*)::bigint,
                   count(*) FILTER (WHERE state = 'discarded')::bigint, count(*) FILTER (WHERE state = 'retryable')::bigint,
                   min(seen_at), max(seen_at), max(id)
            FROM failed
            GROUP BY kind, message
            ORDER BY count(*) DESC, kind, message
            LIMIT \(groupLimit)
            """), logger: logger)
        var groups: [FailureGroup] = []
        for try await (kind, error, count, discarded, retryable, first, last, sample)
            in rows.decode((String, String, Int, Int, Int, Date, Date, Int64).self) {
            groups.append(FailureGroup(kind: kind, error: error, count: count, discarded: discarded, retryable: retryable,
                                       firstSeen: first, lastSeen: last, sampleID: sample))
        }
        return groups
    }

    /// Per queue and minute, the jobs that finished over the last `minutes` minutes (the
    /// current one included), by outcome; minutes without any are left out.
    ///
    /// A range of `jobs_finalized_idx`, which carries `queue` and `state` (q0003), so the
    /// history's rows are not read, only the index entries of the window.
    static func finishedPerMinute(minutes: Int, on connection: PostgresConnection, logger: Logger) async throws -> [FinishedPerMinute] {
        let rows = try await connection.openQuery("""
            SELECT queue, date_trunc('minute', finalized_at) AS minute,
                   count(*) FILTER (WHERE state = 'completed')::bigint,
                   count(*) FILTER (WHERE state = 'discarded')::bigint,
                   count(*) FILTER (WHERE state = 'cancelled')::bigint
            FROM evently_jobs.jobs
            WHERE state IN (\(unescaped: finishedStates))
              AND finalized_at >= date_trunc('minute', now()) - \(minutes - 1) * interval '1 minute'
            GROUP BY queue, minute
            ORDER BY minute, queue
            """, logger: logger)
        var series: [FinishedPerMinute] = []
        for try await (queue, minute, completed, discarded, cancelled) in rows.decode((String, Date, Int, Int, Int).self) {
            series.append(FinishedPerMinute(queue: queue, minute: minute, completed: completed, discarded: discarded,
                                            cancelled: cancelled))
        }
        return series
    }

    /// Stops every statement of the caller's transaction that runs longer than `limit`.
    static func limitStatements(to limit: Duration, on connection: PostgresConnection, logger: Logger) async throws {
        let milliseconds = String(max(1, Int(limit.timeInterval * 1000)))
        try await connection.openQuery("SELECT set_config('statement_timeout', \(milliseconds), true)", logger: logger)
    }

    /// Running jobs per daemon name (`attempted_by`, set by the claim), from `jobs_running_lease_idx`.
    static func runningPerDaemon(on connection: PostgresConnection, logger: Logger) async throws -> [String: Int] {
        let rows = try await connection.openQuery("""
            SELECT attempted_by, count(*)::bigint FROM evently_jobs.jobs
            WHERE state = 'running' AND attempted_by IS NOT NULL
            GROUP BY attempted_by
            """, logger: logger)
        var running: [String: Int] = [:]
        for try await (name, count) in rows.decode((String, Int).self) { running[name] = count }
        return running
    }
}
