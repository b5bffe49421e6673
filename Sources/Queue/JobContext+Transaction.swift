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

extension JobContext {
    /// Names this attempt of this job, for marks a worker leaves on its own rows ("who is doing
    /// this") that a later attempt must tell apart from its own. An attempt given back without
    /// being spent (a snooze, a hand-back at shutdown) runs again under the same name, but only
    /// after the earlier run has returned.
    public var attemptToken: String { "\(jobID):\(attempt)" }

    /// Checks, inside the caller's transaction on `connection`, that this attempt still owns its
    /// job, and holds the job's row until that transaction ends: a rescue or an operator's
    /// cancel waits for it. What the caller writes in the same transaction therefore commits only
    /// if the attempt owned the job when it did, e.g. a mark that says this attempt is about to
    /// do something outside the database that no later attempt may do at the same time.
    ///
    /// Throws ``JobNoLongerOwned`` when the attempt lost the job (cancelled, or its lease ran
    /// out, even if no rescue has run yet), which rolls the caller's transaction back.
    public func confirmOwnership(on connection: PostgresConnection) async throws {
        guard try await JobQueries.lockOwned(id: jobID, attempt: attempt, on: connection, logger: baseLogger) else {
            throw JobNoLongerOwned(jobID: jobID, attempt: attempt)
        }
    }

    /// The query ``confirmOwnership(on:)`` runs, with the job id and attempt as the parameters
    /// the caller names (e.g. `"$4"`, `"$5"`): one row while the attempt owns its job, locked
    /// until the statement's transaction ends. For a worker that folds the check and its own write
    /// into one statement (`WITH owned AS (...) UPDATE ... WHERE EXISTS (SELECT 1 FROM owned)`),
    /// which saves the transaction's BEGIN and COMMIT round trips; a single statement is its own
    /// transaction, so the write still commits only while the attempt owned the job.
    public static func ownershipLockSQL(jobID: String, attempt: String) -> String {
        """
        SELECT 1 FROM evently_jobs.jobs
        WHERE id = \(jobID) AND attempt = \(attempt) AND state = 'running' AND lease_expires_at > clock_timestamp()
        FOR NO KEY UPDATE
        """
    }

    /// ``ownershipLockSQL(jobID:attempt:)`` for many attempts in one statement (the sending marks
    /// of messages that start together): the parameters the caller names are arrays of job ids
    /// and attempts, paired by position; one row, the job's `id`, for each attempt that still
    /// owns its job, locked until the statement's transaction ends. A job row another transaction
    /// holds (a lease renewal, a rescue, an operator) is skipped, not waited for: a statement that
    /// waited while holding the rows it had locked could deadlock with the daemon's multi-row
    /// updates, which lock in their own order. An attempt whose job was skipped gets no row and
    /// must confirm its ownership by ``confirmOwnership(on:)``, which waits. The jobs are found by
    /// `id = ANY`, so even a generic plan looks each one up by its id; meant for tens of attempts.
    public static func ownershipLockSQL(jobIDs: String, attempts: String) -> String {
        """
        SELECT j.id FROM evently_jobs.jobs AS j
        WHERE j.id = ANY (\(jobIDs)::bigint[]) AND j.state = 'running' AND j.lease_expires_at > clock_timestamp()
          AND EXISTS (SELECT 1 FROM unnest(\(jobIDs)::bigint[], \(attempts)::int[]) AS a(id, attempt)
                      WHERE a.id = j.id AND a.attempt = j.attempt)
        FOR NO KEY UPDATE OF j SKIP LOCKED
        """
    }
}
