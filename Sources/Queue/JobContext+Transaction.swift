import PostgresNIO

extension JobContext {
    /// Marks this attempt's job completed on `connection`, inside the worker's own transaction,
    /// so that database-only work and the job's completion commit together: a crash before the
    /// commit leaves both undone (and the job is run again), never one without the other.
    ///
    /// Throws ``JobNoLongerOwned`` when the attempt lost the job, which rolls the caller's
    /// transaction back. The daemon's own completion of the attempt afterwards changes nothing.
    public func complete(on connection: PostgresConnection) async throws {
        guard try await JobQueries.completeOwned(id: jobID, attempt: attempt, on: connection, logger: baseLogger) else {
            throw JobNoLongerOwned(jobID: jobID, attempt: attempt)
        }
    }
}
