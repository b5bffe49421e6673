/// Where a job is in its life. Stored as text in `evently_jobs.jobs.state`.
public enum JobState: String, Sendable, Codable, CaseIterable {
    /// Ready to run now.
    case available
    /// Waiting for its `run_at` (a delayed or snoozed job).
    case scheduled
    /// Claimed by a daemon, which holds its lease.
    case running
    /// Failed an attempt and waits for its backoff before the next one.
    case retryable
    /// Finished successfully.
    case completed
    /// Stopped by an operator or by its worker; will not run again.
    case cancelled
    /// Gave up: attempts exhausted, unknown kind, or discarded by its worker.
    case discarded

    /// States a job can still leave by running; a unique key is held only in these.
    public static let unfinished: [JobState] = [.available, .scheduled, .running, .retryable]
    public static let finished: [JobState] = [.completed, .cancelled, .discarded]

    public var isFinished: Bool { Self.finished.contains(self) }
}
