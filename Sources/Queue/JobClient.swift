import Foundation
import Logging
import PostgresNIO

/// Enqueues jobs and lets operators inspect and steer them.
///
/// Enqueue on the pool with ``enqueue(_:)``, or inside your own transaction with
/// ``enqueue(_:on:logger:)``: then the job exists only if your transaction commits, and idle
/// daemons are woken by NOTIFY at that commit.
public struct JobClient: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// How long one operation may wait for the database before ``DeadlineExceeded``; nil waits
    /// as long as it takes. The HTTP intake sets it (see
    /// ``PostgresClient/withOpenConnection(within:_:)`` for what a late answer means).
    public let deadline: Duration?

    public init(client: PostgresClient, logger: Logger, deadline: Duration? = nil) {
        self.client = client
        self.logger = logger
        self.deadline = deadline
    }

    /// A connection for one operation, within ``deadline``.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withOpenConnection(within: deadline, body)
    }

    // MARK: Enqueue

    /// Enqueues one job in its own transaction.
    @discardableResult
    public func enqueue(_ job: NewJob) async throws -> EnqueueResult {
        try Self.validate(job)
        return try await withConnection { [logger] connection in
            try await JobQueries.enqueue(job, on: connection, logger: logger)
        }
    }

    /// Enqueues a typed payload.
    @discardableResult
    public func enqueue<Payload: JobPayload>(_ payload: Payload, options: EnqueueOptions = .init()) async throws -> EnqueueResult {
        try await enqueue(NewJob(payload, options: options))
    }

    /// Enqueues many jobs in one statement per 5,000 (thousands per round trip), all in one
    /// transaction. Returns the ids of the inserted jobs; jobs whose unique key was held are left out.
    @discardableResult
    public func enqueue(_ jobs: [NewJob]) async throws -> [Int64] {
        for job in jobs { try Self.validate(job) }
        return try await withConnection { [logger] connection in
            try await connection.transaction(logger: logger) { connection in
                try await Self.enqueue(jobs, on: connection, logger: logger)
            }
        }
    }

    /// Enqueues one job on `connection`, inside whatever transaction the caller has open there.
    @discardableResult
    public static func enqueue(_ job: NewJob, on connection: PostgresConnection, logger: Logger) async throws -> EnqueueResult {
        try validate(job)
        return try await JobQueries.enqueue(job, on: connection, logger: logger)
    }

    /// Enqueues many jobs on `connection`, inside the caller's transaction.
    @discardableResult
    public static func enqueue(_ jobs: [NewJob], on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        var ids: [Int64] = []
        ids.reserveCapacity(jobs.count)
        var start = 0
        while start < jobs.count {
            let chunk = Array(jobs[start..<min(start + 5_000, jobs.count)])
            ids += try await JobQueries.enqueueMany(chunk, on: connection, logger: logger)
            start += chunk.count
        }
        return ids
    }

    /// Checks what the database would refuse less clearly.
    /// - Throws: ``QueueError/invalidArguments(_:)`` saying what is wrong.
    public static func validate(_ job: NewJob) throws {
        guard !job.kind.isEmpty else { throw QueueError.invalidArguments("a job needs a kind") }
        guard !job.options.queue.isEmpty else { throw QueueError.invalidArguments("a job's queue cannot be empty") }
        guard job.options.maxAttempts > 0 else { throw QueueError.invalidArguments("max attempts must be at least 1") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(job.argsJSON.utf8)), object is [String: Any] else {
            throw QueueError.invalidArguments("the arguments of a \(job.kind) job must be a JSON object, got: \(job.argsJSON)")
        }
    }
}
