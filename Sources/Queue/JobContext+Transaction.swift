import PostgresNIO

/// The attempt no longer owns its job (an operator cancelled it, or its lease ran out and
/// another daemon took it back): whatever the caller's transaction did must roll back.
public struct JobNoLongerOwned: Error, CustomStringConvertible {
    public var jobID: Int64
    public var attempt: Int
    public var description: String { "job \(jobID) attempt \(attempt) no longer owns the job (cancelled or rescued)" }
}

extension JobContext {
    /// Marks this attempt's job completed on `connection`, inside the worker's own transaction,
    /// so that database-only work and the job's completion commit together: a crash before the
    /// commit leaves both undone (and the job is run again), never one without the other.
    ///
    /// Throws ``JobNoLongerOwned`` when the attempt lost the job, which rolls the caller's
    /// transaction back. The daemon's own completion of the attempt afterwards changes nothing.
    public func complete(on connection: PostgresConnection) async throws {
        let rows = try await connection.query("""
            UPDATE evently_jobs.jobs
            SET state = 'completed', finalized_at = now(), lease_expires_at = NULL
            WHERE id = \(jobID) AND attempt = \(attempt) AND state = 'running'
            RETURNING id
            """, logger: baseLogger)
        var updated = 0
        for try await _ in rows { updated += 1 }
        guard updated == 1 else { throw JobNoLongerOwned(jobID: jobID, attempt: attempt) }
    }
}
