/// A job's arguments with the kind they are stored under.
///
/// The kind is a stored contract (rows in the database carry it): choose it once, such as
/// `"email.send"`, and never rename it. Payloads carry ids rather than whole records, so a job
/// reads fresh data when it runs.
public protocol JobPayload: Codable, Sendable {
    static var kind: String { get }
}

/// Thrown by a worker to end an attempt in a way other than success or failure.
public enum JobControl: Error, Sendable, Equatable {
    /// Run again after `delay` without spending an attempt (e.g. a rate-limited provider).
    case snooze(Duration)
    /// Stop for good: the job is marked cancelled with the reason recorded.
    case cancel(reason: String)
    /// Give up for good: the job is marked discarded with the reason recorded.
    case discard(reason: String)
}

/// A failure that knows when trying again makes sense, such as a provider's `Retry-After`.
/// The attempt counts as failed like any other; only the delay before the next one changes
/// (still at most an hour, so a wild header cannot park a job for days).
public protocol RetryAfterHinting: Error {
    var retryAfter: Duration? { get }
}
