import Foundation
import Logging
import PostgresNIO

/// One queue's figures for operators (`evently-jobs status`, `GET /v1/queues`, metrics).
public struct QueueStatus: Sendable, Codable, Equatable {
    public var queue: String
    public var paused: Bool
    /// Jobs per state; finished states count the last `recentWindow`.
    public var counts: [JobState: Int]
    /// Age in seconds of the oldest job that is due and waiting, if any.
    public var oldestDueAgeSeconds: Double?
    /// Jobs completed in the recent window.
    public var completedRecently: Int
    public var recentWindowSeconds: Int

    enum CodingKeys: String, CodingKey {
        case queue, paused, counts
        case oldestDueAgeSeconds = "oldest_available_age_seconds"
        case completedRecently = "completed_recently"
        case recentWindowSeconds = "recent_window_seconds"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(queue, forKey: .queue)
        try container.encode(paused, forKey: .paused)
        try container.encode(Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, counts[$0] ?? 0) }), forKey: .counts)
        try container.encode(oldestDueAgeSeconds, forKey: .oldestDueAgeSeconds)
        try container.encode(completedRecently, forKey: .completedRecently)
        try container.encode(recentWindowSeconds, forKey: .recentWindowSeconds)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        queue = try container.decode(String.self, forKey: .queue)
        paused = try container.decode(Bool.self, forKey: .paused)
        let raw = try container.decode([String: Int].self, forKey: .counts)
        counts = Dictionary(uniqueKeysWithValues: raw.compactMap { key, value in JobState(rawValue: key).map { ($0, value) } })
        oldestDueAgeSeconds = try container.decodeIfPresent(Double.self, forKey: .oldestDueAgeSeconds)
        completedRecently = try container.decode(Int.self, forKey: .completedRecently)
        recentWindowSeconds = try container.decode(Int.self, forKey: .recentWindowSeconds)
    }

    init(queue: String, paused: Bool, counts: [JobState: Int], oldestDueAgeSeconds: Double?, completedRecently: Int, recentWindowSeconds: Int) {
        self.queue = queue
        self.paused = paused
        self.counts = counts
        self.oldestDueAgeSeconds = oldestDueAgeSeconds
        self.completedRecently = completedRecently
        self.recentWindowSeconds = recentWindowSeconds
    }
}

/// A job as operators see it.
public struct JobRecord: Sendable, Codable, Equatable {
    public struct AttemptError: Sendable, Codable, Equatable {
        public var attempt: Int
        public var at: String?
        public var kind: String?
        public var error: String
    }

    public var id: Int64
    public var kind: String
    public var queue: String
    public var state: JobState
    public var priority: Int
    public var attempt: Int
    public var maxAttempts: Int
    public var args: String
    public var runAt: Date
    public var createdAt: Date
    public var attemptedAt: Date?
    public var attemptedBy: String?
    public var finalizedAt: Date?
    public var uniqueKey: String?
    public var errors: [AttemptError]

    enum CodingKeys: String, CodingKey {
        case id, kind, queue, state, priority, attempt, args, errors
        case maxAttempts = "max_attempts", runAt = "run_at", createdAt = "created_at", attemptedAt = "attempted_at"
        case attemptedBy = "attempted_by", finalizedAt = "finalized_at", uniqueKey = "unique_key"
    }
}

extension JobClient {
    /// Per-queue counts; finished jobs are counted over the last `recentWindow`, so the cost
    /// stays small however much history the table holds.
    public func status(recentWindow: Duration = .seconds(300)) async throws -> [QueueStatus] {
        let windowSeconds = Int(recentWindow.timeInterval)
        return try await client.withConnection { connection in
            var byQueue: [String: QueueStatus] = [:]
            func entry(_ queue: String) -> QueueStatus {
                byQueue[queue] ?? QueueStatus(queue: queue, paused: false, counts: [:], oldestDueAgeSeconds: nil,
                                              completedRecently: 0, recentWindowSeconds: windowSeconds)
            }
            let live = try await connection.query("""
                SELECT queue, state, count(*)::bigint,
                       extract(epoch FROM now() - min(run_at) FILTER (WHERE state <> 'running' AND run_at <= now()))::float8
                FROM evently_jobs.jobs
                WHERE state IN ('available', 'scheduled', 'running', 'retryable')
                GROUP BY queue, state
                """, logger: logger)
            for try await (queue, state, count, oldest) in live.decode((String, String, Int, Double?).self) {
                var status = entry(queue)
                if let parsed = JobState(rawValue: state) { status.counts[parsed] = count }
                if let oldest { status.oldestDueAgeSeconds = max(status.oldestDueAgeSeconds ?? 0, oldest) }
                byQueue[queue] = status
            }
            let recent = try await connection.query("""
                SELECT queue, state, count(*)::bigint FROM evently_jobs.jobs
                WHERE state IN ('completed', 'cancelled', 'discarded')
                  AND finalized_at > now() - \(windowSeconds) * interval '1 second'
                GROUP BY queue, state
                """, logger: logger)
            for try await (queue, state, count) in recent.decode((String, String, Int).self) {
                var status = entry(queue)
                guard let parsed = JobState(rawValue: state) else { continue }
                status.counts[parsed] = count
                if parsed == .completed { status.completedRecently = count }
                byQueue[queue] = status
            }
            let paused = try await connection.query("SELECT name, paused FROM evently_jobs.queues", logger: logger)
            for try await (queue, isPaused) in paused.decode((String, Bool).self) {
                var status = entry(queue)
                status.paused = isPaused
                byQueue[queue] = status
            }
            return byQueue.values.sorted { $0.queue < $1.queue }
        }
    }

    /// Jobs matching the filters, newest first.
    public func list(state: JobState? = nil, kind: String? = nil, queue: String? = nil, limit: Int = 50) async throws -> [JobRecord] {
        try await client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT \(unescaped: JobClient.recordColumns) FROM evently_jobs.jobs
                WHERE (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
                  AND (\(kind)::text IS NULL OR kind = \(kind))
                  AND (\(queue)::text IS NULL OR queue = \(queue))
                ORDER BY id DESC LIMIT \(limit)
                """, logger: logger)
            return try await Self.records(rows)
        }
    }

    /// One job with its error history.
    /// - Throws: ``QueueError/jobNotFound(_:)``.
    public func job(id: Int64) async throws -> JobRecord {
        try await client.withConnection { connection in
            let rows = try await connection.query(
                "SELECT \(unescaped: JobClient.recordColumns) FROM evently_jobs.jobs WHERE id = \(id)", logger: logger)
            guard let record = try await Self.records(rows).first else { throw QueueError.jobNotFound(id) }
            return record
        }
    }

    /// Makes a retryable, discarded or cancelled job run again now, with fresh attempts if it had
    /// run out. A running or completed job is refused.
    public func retry(id: Int64) async throws -> JobRecord {
        try await change(id: id, action: "retried", allowedFrom: [.retryable, .discarded, .cancelled, .scheduled, .available], sql: """
            UPDATE evently_jobs.jobs
            SET state = 'available', run_at = now(), finalized_at = NULL,
                max_attempts = greatest(max_attempts, attempt + 1)
            WHERE id = $1
            """)
    }

    /// Cancels a job that has not finished. A running job is marked cancelled at once; its
    /// daemon's late report is ignored.
    public func cancel(id: Int64) async throws -> JobRecord {
        try await change(id: id, action: "cancelled", allowedFrom: JobState.unfinished, sql: """
            UPDATE evently_jobs.jobs
            SET state = 'cancelled', finalized_at = now(), lease_expires_at = NULL,
                errors = errors || jsonb_build_array(jsonb_build_object(
                    'attempt', attempt, 'at', now(), 'kind', 'cancelled', 'error', 'cancelled by an operator'))
            WHERE id = $1
            """)
    }

    /// Pauses or resumes claiming from `queue` on every daemon.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try await client.withConnection { connection in
            try await connection.query("""
                INSERT INTO evently_jobs.queues (name, paused) VALUES (\(queue), \(paused))
                ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = now()
                """, logger: logger)
            if !paused { try await JobQueries.notify(queues: [queue], on: connection, logger: logger) }
        }
    }

    private func change(id: Int64, action: String, allowedFrom: [JobState], sql: String) async throws -> JobRecord {
        try await client.withConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                let rows = try await connection.query(
                    "SELECT state, queue FROM evently_jobs.jobs WHERE id = \(id) FOR UPDATE", logger: logger)
                var current: (String, String)?
                for try await row in rows.decode((String, String).self) { current = row }
                guard let (stateText, queue) = current, let state = JobState(rawValue: stateText) else {
                    throw QueueError.jobNotFound(id)
                }
                guard allowedFrom.contains(state) else { throw QueueError.invalidState(id: id, state: state, action: action) }
                var query = PostgresQuery(unsafeSQL: sql)
                try query.binds.append(id, context: .default)
                try await connection.query(query, logger: logger)
                try await JobQueries.notify(queues: [queue], on: connection, logger: logger)
            }
            let rows = try await connection.query(
                "SELECT \(unescaped: JobClient.recordColumns) FROM evently_jobs.jobs WHERE id = \(id)", logger: logger)
            guard let record = try await Self.records(rows).first else { throw QueueError.jobNotFound(id) }
            return record
        }
    }

    static let recordColumns = """
        id, kind, queue, state, priority, attempt, max_attempts, args::text, run_at, created_at,
        attempted_at, attempted_by, finalized_at, unique_key, errors::text
        """

    static func records(_ rows: PostgresRowSequence) async throws -> [JobRecord] {
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
}
