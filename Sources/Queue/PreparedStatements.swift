import Logging
import PostgresNIO

/// Whether the statements run for every job and every delivered message (``PostgresConnection/run(_:logger:)``)
/// are named prepared statements, parsed and planned once per connection, or unnamed ones,
/// parsed and planned at every call (`database.prepared_statements`).
///
/// Why prepared: on the jobs table, with its dozen partial indexes, planning a one-row statement
/// costs more than running it; pgbench with the email path's statements measured 3 × the
/// throughput prepared (BENCHMARKS.md, "Prepared statements"). Why it can be turned off: a
/// named statement lives on one server connection, and PgBouncer before 1.21 in transaction
/// mode hands each transaction any server connection ("prepared statement does not exist").
///
/// A task-local, so the setting follows the daemon's tasks without being passed through every
/// store; set it at the root with `StatementPreparation.$enabled.withValue(_:operation:)`.
public enum StatementPreparation {
    @TaskLocal public static var enabled = true
}

extension PostgresConnection {
    /// Runs `statement` (prepared or not, as ``StatementPreparation/enabled`` says) and returns
    /// its rows.
    ///
    /// A connection already closed is refused before anything is written, for the reason given
    /// at ``PostgresClient/withOpenConnection(isolation:_:)``.
    ///
    /// A prepared statement that fails closes its connection. Why: PostgresNIO 1.33.2 remembers a
    /// failed preparation for the connection's life and answers every later use of that
    /// statement on it with the same error without asking the server
    /// (`PreparedStatementStateMachine`, state `.error`; no upstream issue found). A preparation
    /// can fail for a passing reason (its transaction already aborted, a lock or statement
    /// timeout behind a migration, a cancel); the pool replaces the closed connection.
    /// `PreparedStatementTests` shows the sticky failure and this way out of it. A row moved
    /// to another partition under the statement (40001, q0005) is met only while it runs, after
    /// its preparation succeeded: the connection stays open for ``JobQueries/retryingMovedRows(_:)``.
    public func run<Statement: PostgresPreparedStatement>(_ statement: Statement, logger: Logger) async throws -> [Statement.Row] {
        guard !isClosed else { throw ConnectionClosed() }
        guard StatementPreparation.enabled else {
            var rows: [Statement.Row] = []
            for try await row in try await query(PostgresQuery(unsafeSQL: Statement.sql, binds: try statement.makeBindings()), logger: logger) {
                rows.append(try statement.decodeRow(row))
            }
            return rows
        }
        do {
            var rows: [Statement.Row] = []
            for try await row in try await execute(statement, logger: logger) { rows.append(row) }
            return rows
        } catch {
            if let error = error as? PSQLError, !error.isRowMovedByConcurrentUpdate { try? await close() }
            throw error
        }
    }
}
