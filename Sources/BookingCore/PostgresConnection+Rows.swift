import Foundation
import Logging
import PostgresNIO

extension PostgresConnection {
    /// Runs `query` and maps every row.
    ///
    /// A connection that closed between two statements of a transaction (the server restarted)
    /// is refused before the statement is sent: PostgresNIO 1.33.2 writes a statement to a closed
    /// channel with no one listening to the failed write, and its caller would wait forever
    /// (compare postgres-nio issues #487 and #601).
    func rows<T>(_ query: PostgresQuery, logger: Logger, _ transform: (PostgresRow) throws -> T) async throws -> [T] {
        guard !isClosed else { throw DatabaseConnectionLost() }
        var result: [T] = []
        for try await row in try await self.query(query, logger: logger) {
            result.append(try transform(row))
        }
        return result
    }

    /// Runs `query` and maps its first row, if any.
    func firstRow<T>(_ query: PostgresQuery, logger: Logger, _ transform: (PostgresRow) throws -> T) async throws -> T? {
        try await rows(query, logger: logger, transform).first
    }

    /// Bounds how long the rest of the caller's transaction waits on any one lock. Bookings for
    /// a hot event queue on its row; past this the statement fails (SQLSTATE 55P03) instead of
    /// piling up connections.
    func setLocalLockTimeout(_ timeout: Duration, logger: Logger) async throws {
        guard !isClosed else { throw DatabaseConnectionLost() }
        let milliseconds = max(1, Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        try await query("SELECT set_config('lock_timeout', \("\(milliseconds)ms"), true)", logger: logger)
    }
}

/// The constraint violations the stores turn into ``BookingError``s.
enum ConstraintViolation {
    /// `(sqlState, constraint name)` of a server error, if it is one.
    static func classify(_ error: any Error) -> (state: String, constraint: String?)? {
        guard let psql = error as? PSQLError, let state = psql.serverInfo?[.sqlState] else { return nil }
        return (state, psql.serverInfo?[.constraintName])
    }

    static let uniqueViolation = "23505"
    static let foreignKeyViolation = "23503"
}

/// The database connection closed under a use case (the server restarted or is unreachable);
/// nothing of it was committed, and it may be tried again.
public struct DatabaseConnectionLost: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the database connection was lost (the server restarted or is unreachable)" }
}
