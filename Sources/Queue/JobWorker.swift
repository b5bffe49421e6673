import Logging

/// Runs jobs of one kind.
///
/// Return normally for success; throw ``JobControl`` to snooze, cancel or discard; throw
/// anything else to fail the attempt (it is retried with backoff until `max_attempts`).
/// Delivery is at least once: a job may run again after a crash, so side effects must be
/// idempotent (key them by ``JobContext/jobID``).
public protocol JobWorker: Sendable {
    associatedtype Payload: JobPayload
    /// Longest one attempt may run before it is cancelled and counted as failed;
    /// `nil` uses the configured default.
    var timeout: Duration? { get }
    func work(_ payload: Payload, context: JobContext) async throws
}

extension JobWorker {
    public var timeout: Duration? { nil }
}
