import HTTPTypes
import Synchronization

/// Idempotency keys being booked right now in this process.
final class KeysInFlight: Sendable {
    private let keys = Mutex<Set<String>>([])

    /// Runs `body` unless `key` is already running; then throws 409.
    func run<T>(_ key: String, _ body: () async throws -> T) async throws -> T {
        guard keys.withLock({ $0.insert(key).inserted }) else {
            throw APIError(.conflict, "idempotency_key_in_flight", "a request with this Idempotency-Key is still being processed")
        }
        defer { _ = keys.withLock { $0.remove(key) } }
        return try await body()
    }
}
