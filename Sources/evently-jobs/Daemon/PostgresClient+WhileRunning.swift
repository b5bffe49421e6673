import PostgresNIO

extension PostgresClient {
    /// Runs the pool for the duration of `body`.
    func whileRunning<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.run() }
            defer { group.cancelAll() }
            // Let the pool start before the first lease, which it would otherwise log as a warning.
            try await Task.sleep(for: .milliseconds(5))
            return try await body()
        }
    }
}

extension Optional where Wrapped == PostgresClient {
    /// ``PostgresClient/whileRunning(_:)`` when there is a client; else just `body`.
    func whileRunningIfAny<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        guard let client = self else { return try await body() }
        return try await client.whileRunning(body)
    }
}
