import Logging
import PostgresNIO

extension PostgresConnection {
    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws (the
    /// closure's own error is rethrown, so callers can match on their typed errors).
    ///
    /// Written by hand rather than with `withTransaction` so that a connection the server closed
    /// is refused before BEGIN and before COMMIT instead of being written to: PostgresNIO 1.33.2
    /// drops a statement written to a closed channel without completing it, and its caller
    /// would wait forever (compare postgres-nio issues #487 and #601).
    ///
    /// A task cancelled before COMMIT rolls back instead: a caller that gave up waiting (an HTTP
    /// request past `http.database_timeout`) must not have its work committed behind its back.
    /// Only a COMMIT already on its way can still land after the caller gave up.
    public func transaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        guard !isClosed else { throw ConnectionClosed() }
        try await query("BEGIN", logger: logger)
        let result: Result
        do {
            result = try await body(self)
        } catch {
            if !isClosed { try? await query("ROLLBACK", logger: logger) }
            throw error
        }
        guard !isClosed else { throw ConnectionClosed() }
        if Task.isCancelled {
            try? await query("ROLLBACK", logger: logger)
            throw CancellationError()
        }
        do {
            try await query("COMMIT", logger: logger)
        } catch {
            // A failed COMMIT has rolled back (or the connection is gone, and with it the transaction).
            throw error
        }
        return result
    }
}
