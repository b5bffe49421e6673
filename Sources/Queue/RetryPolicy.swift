/// When a failed job runs again: exponential backoff with jitter, capped.
///
/// Attempt n (1-based) waits `base * 2^(n-1)` up to `cap`, then ± `jitter` of that, so a burst of
/// failures (a provider outage) does not come back as a burst.
public struct RetryPolicy: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    /// Fraction of the delay added or removed at random, 0...1.
    public var jitter: Double

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(3600), jitter: Double = 0.1) {
        self.base = base
        self.cap = cap
        self.jitter = min(max(jitter, 0), 1)
    }

    /// The wait before the attempt after `attempt` failed; `unit` in 0...1 picks the jitter
    /// (tests pass fixed values, the daemon a random one).
    public func delay(afterAttempt attempt: Int, unit: Double = Double.random(in: 0...1)) -> Duration {
        let exponent = min(max(attempt - 1, 0), 62)
        let raw = base.timeInterval * Double(1 << min(exponent, 40))
        let capped = min(raw, cap.timeInterval)
        let jittered = capped * (1 + jitter * (2 * unit - 1))
        return .milliseconds(Int64((max(jittered, 0) * 1000).rounded()))
    }
}
