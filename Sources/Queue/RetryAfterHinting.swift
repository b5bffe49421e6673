/// A failure that knows when trying again makes sense, such as a provider's `Retry-After`.
/// The attempt counts as failed like any other; only the delay before the next one changes
/// (still at most an hour, so a wild header cannot park a job for days).
public protocol RetryAfterHinting: Error {
    var retryAfter: Duration? { get }
}
