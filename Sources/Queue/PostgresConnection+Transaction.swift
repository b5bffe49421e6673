import Logging
import PostgresNIO

extension PostgresConnection {
    /// `withTransaction`, but throwing the closure's own error rather than the wrapper, so callers
    /// can match on their typed errors; a failed COMMIT or BEGIN still surfaces as itself.
    public func transaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        do {
            return try await withTransaction(logger: logger, isolation: isolation, body)
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error.beginError ?? error.commitError ?? error
        }
    }
}
