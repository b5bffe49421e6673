import Foundation
import Queue
import Synchronization

/// Token buckets per key (a user or an address): `perMinute` requests, refilled evenly.
///
/// In memory, per daemon: with several daemons behind a balancer each enforces its own share.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    let perMinute: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    init(perMinute: Int) {
        self.perMinute = perMinute
    }

    /// Takes one token for `key`; returns nil when allowed, else the seconds until one is free.
    func take(_ key: String, now: ContinuousClock.Instant = .now) -> Int? {
        guard perMinute > 0 else { return nil }
        let capacity = Double(perMinute)
        let perSecond = capacity / 60
        return buckets.withLock { buckets in
            if buckets.count > 100_000 {
                // Forget keys whose bucket is full again: they are indistinguishable from new ones.
                buckets = buckets.filter { ($0.value.tokens + (now - $0.value.updated).timeInterval * perSecond) < capacity }
            }
            var bucket = buckets[key] ?? Bucket(tokens: capacity, updated: now)
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated).timeInterval * perSecond)
            bucket.updated = now
            defer { buckets[key] = bucket }
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                return nil
            }
            return max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up)))
        }
    }
}
