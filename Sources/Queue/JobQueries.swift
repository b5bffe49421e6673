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
            INSERT INTO evently_jobs.jobs (kind, args, queue, priority, run_at, max_attempts, unique_key, tags, state)
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
        let leaseMilliseconds = Int(lease.timeInterval * 1000)
        let rows = try await connection.openQuery("""
            WITH next AS (
                SELECT id FROM evently_jobs.jobs
                WHERE queue = \(queue)
                  AND state IN (\(unescaped: claimableStates))
                  AND run_at <= now()
                  AND kind = ANY(\(kinds)::text[])
                  AND NOT EXISTS (SELECT 1 FROM evently_jobs.queues p WHERE p.name = \(queue) AND p.paused)
                ORDER BY priority, run_at, id
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            UPDATE evently_jobs.jobs AS j
            SET state = 'running', attempt = j.attempt + 1, attempted_at = now(), attempted_by = \(worker),
                lease_expires_at = now() + \(leaseMilliseconds) * interval '1 millisecond'
            FROM next WHERE j.id = next.id
            RETURNING j.id, j.kind, j.queue, j.args::text, j.attempt, j.max_attempts, j.priority
            """, logger: logger)
        var jobs: [ClaimedJob] = []
        for try await (id, kind, queue, args, attempt, maxAttempts, priority) in rows.decode((Int64, String, String, String, Int, Int, Int).self) {
            jobs.append(ClaimedJob(id: id, kind: kind, queue: queue, argsJSON: args, attempt: attempt,
                                   maxAttempts: maxAttempts, priority: priority))
        }
        return jobs.sorted { ($0.priority, $0.id) < ($1.priority, $1.id) }
    }

    /// Marks many jobs completed in one statement. The attempt guard ignores a late report for
    /// an attempt that was rescued and re-run elsewhere.
    static func complete(_ jobs: [FinishedAttempt], on connection: PostgresConnection, logger: Logger) async throws {
        guard !jobs.isEmpty else { return }
        let ids = jobs.map(\.id), attempts = jobs.map(\.attempt)
        try await connection.openQuery("""
            UPDATE evently_jobs.jobs AS j
            SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
            FROM unnest(\(ids)::bigint[], \(attempts)::int[]) AS d(id, attempt)
            WHERE j.id = d.id AND j.attempt = d.attempt AND j.state = 'running'
            """, logger: logger)
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

    /// Completes one attempt's job on `connection`, inside the worker's own transaction.
    /// Returns false when the attempt no longer owns the job (cancelled, or rescued and re-run).
    static func completeOwned(id: Int64, attempt: Int, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.openQuery("""
            UPDATE evently_jobs.jobs
            SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
            WHERE id = \(id) AND attempt = \(attempt) AND state = 'running'
            RETURNING id
            """, logger: logger)
        var updated = 0
        for try await _ in rows { updated += 1 }
        return updated == 1
    }

    /// Extends the leases of the attempts this daemon still holds (job id → attempt) and returns
    /// the ids it still owns: renewed, or completed by the attempt's own worker inside its
    /// transaction (``JobContext/complete(on:)``). An attempt left out lost its job: an operator
    /// cancelled it, or its lease lapsed and it was rescued (and perhaps claimed again elsewhere).
    static func renewLeases(_ attempts: [Int64: Int], lease: Duration, on connection: PostgresConnection,
                            logger: Logger) async throws -> Set<Int64> {
        guard !attempts.isEmpty else { return [] }
        let leaseMilliseconds = Int(lease.timeInterval * 1000)
        let ids = Array(attempts.keys), numbers = ids.map { attempts[$0] ?? 0 }
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
            WHERE j.state = 'completed'
            """, logger: logger)
        var owned: Set<Int64> = []
        for try await id in rows.decode(Int64.self) { owned.insert(id) }
        return owned
    }

    // MARK: Maintenance

    /// Returns jobs whose lease ran out (their daemon died) to `retryable`, or discards them
    /// when that was their last attempt. Returns the queues that got work back.
    static func rescueExpired(limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> [String] {
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
            FROM stuck WHERE j.id = stuck.id
            RETURNING j.queue
            """, logger: logger)
        var queues: [String] = []
        for try await queue in rows.decode(String.self) { queues.append(queue) }
        return queues
    }

    /// Deletes up to `limit` jobs finished before `retention` ago; returns how many.
    static func prune(retention: Duration, limit: Int, on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let seconds = retention.timeInterval
        let rows = try await connection.openQuery("""
            WITH old AS (
                SELECT id FROM evently_jobs.jobs
                WHERE state IN (\(unescaped: finishedStates))
                  AND finalized_at < now() - \(seconds) * interval '1 second'
                LIMIT \(limit)
                FOR UPDATE SKIP LOCKED
            )
            DELETE FROM evently_jobs.jobs AS j USING old WHERE j.id = old.id
            RETURNING j.id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    static func notify(queues: Set<String>, on connection: PostgresConnection, logger: Logger) async throws {
        guard !queues.isEmpty else { return }
        try await connection.openQuery(
            "SELECT pg_notify('evently_jobs', q) FROM unnest(\(Array(queues))::text[]) AS q", logger: logger)
    }

    // MARK: Operators

    /// Per queue and unfinished state: the count, and the age in seconds of the oldest job
    /// that is due and waiting.
    static func unfinishedCounts(on connection: PostgresConnection, logger: Logger) async throws
        -> [(queue: String, state: String, count: Int, oldestDueAge: Double?)] {
        let rows = try await connection.openQuery("""
            SELECT queue, state, count(*)::bigint,
                   extract(epoch FROM now() - min(run_at) FILTER (WHERE state <> 'running' AND run_at <= now()))::float8
            FROM evently_jobs.jobs
            WHERE state IN (\(unescaped: unfinishedStates))
            GROUP BY queue, state
            """, logger: logger)
        var counts: [(queue: String, state: String, count: Int, oldestDueAge: Double?)] = []
        for try await row in rows.decode((String, String, Int, Double?).self) { counts.append(row) }
        return counts
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
    static func retryNow(id: Int64, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.openQuery("""
            UPDATE evently_jobs.jobs
            SET state = 'available', run_at = now(), finalized_at = NULL,
                max_attempts = greatest(max_attempts, attempt + 1)
            WHERE id = \(id)
            """, logger: logger)
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

    /// Per queue and kind, the waiting jobs that no live daemon can run: none works their queue
    /// with a worker for their kind.
    static func jobsWithoutLiveWorker(on connection: PostgresConnection, logger: Logger) async throws
        -> [(queue: String, kind: String, count: Int)] {
        let rows = try await connection.openQuery("""
            SELECT j.queue, j.kind, count(*)::bigint
            FROM evently_jobs.jobs AS j
            WHERE j.state IN (\(unescaped: claimableStates))
              AND NOT EXISTS (
                  SELECT 1 FROM evently_jobs.daemons AS d
                  WHERE d.expires_at > now() AND j.kind = ANY(d.kinds) AND d.queues ? j.queue)
            GROUP BY j.queue, j.kind
            """, logger: logger)
        var counts: [(queue: String, kind: String, count: Int)] = []
        for try await row in rows.decode((String, String, Int).self) { counts.append(row) }
        return counts
    }

    // MARK: Benchmarks

    /// Jobs not yet finished, read through the partial index (cheap however much history there is).
    static func unfinishedCount(on connection: PostgresConnection, logger: Logger) async throws -> Int {
        let rows = try await connection.openQuery(
            "SELECT count(*)::bigint FROM evently_jobs.jobs WHERE state IN (\(unescaped: unfinishedStates))", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
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
    static func lockOwned(id: Int64, attempt: Int, on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.openQuery("""
            SELECT 1 FROM evently_jobs.jobs
            WHERE id = \(id) AND attempt = \(attempt) AND state = 'running' AND lease_expires_at > clock_timestamp()
            FOR NO KEY UPDATE
            """, logger: logger)
        var owned = false
        for try await _ in rows { owned = true }
        return owned
    }
}
