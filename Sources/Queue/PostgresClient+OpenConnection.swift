import PostgresNIO
import Logging

extension PostgresClient {
    /// `withConnection`, but never on a connection whose channel is already closed.
    ///
    /// Why: right after the server drops its connections (a restart, a failover), PostgresNIO
    /// 1.33.2 can still lease a connection whose channel has closed. A query on it is written
    /// with `channel.write(_:promise: nil)`: the write fails, nobody hears of it, and the
    /// query's own promise is never completed, so its caller waits forever and cannot be
    /// cancelled (compare postgres-nio issues #487 and #601). Such a lease is given back and
    /// another taken, up to three times, then ``ConnectionClosed`` is thrown (HTTP: 503).
    /// `DatabaseOutageTests` shows the hang without it.
    public func withOpenConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await withConnection { connection in
                    guard !connection.isClosed else { throw ConnectionClosed() }
                    return try await body(connection)
                }
            } catch is ConnectionClosed where attempt < 3 {
                continue
            }
        }
    }
}

extension PostgresClient {
    /// ``withOpenConnection(isolation:_:)`` that gives up after `limit` (when given) with
    /// ``DeadlineExceeded``, for callers that must answer in time (an HTTP request).
    ///
    /// Why: over a network that black-holes traffic, a query waits for an answer until TCP
    /// gives up (minutes) and PostgresNIO cannot cancel it. The body is then abandoned, not
    /// stopped: it may still complete when the network returns, so a caller must treat the
    /// outcome as unknown (a booking's Idempotency-Key makes the retry safe).
    public func withOpenConnection<Result: Sendable>(
        within limit: Duration?,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        guard let limit else { return try await withOpenConnection { try await body($0) } }
        return try await withDeadline(limit) { try await self.withOpenConnection { try await body($0) } }
    }
}

/// The database connection closed under us: the server restarted or is unreachable; try again.
public struct ConnectionClosed: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the database connection was closed (the server restarted or is unreachable)" }
}

extension PostgresConnection {
    /// `query`, refused on a connection that has already closed, for the reason given at
    /// ``PostgresClient/withOpenConnection(isolation:_:)``: a statement between two others of a
    /// transaction may find the server gone.
    public func openQuery(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        guard !isClosed else { throw ConnectionClosed() }
        return try await self.query(query, logger: logger)
    }
}
