/// Thrown by a worker to end an attempt in a way other than success or failure.
public enum JobControl: Error, Sendable, Equatable {
    /// Run again after `delay` without spending an attempt (e.g. a rate-limited provider).
    case snooze(Duration)
    /// Stop for good: the job is marked cancelled with the reason recorded.
    case cancel(reason: String)
    /// Give up for good: the job is marked discarded with the reason recorded.
    case discard(reason: String)
}
