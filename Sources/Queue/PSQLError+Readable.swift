import PostgresNIO

/// PostgresNIO hides server messages from `description` so they do not leak into logs by
/// accident; an operator's terminal and our own logs need them.
public func readableDescription(of error: any Error) -> String {
    if let psql = error as? PSQLError {
        if let message = psql.serverInfo?[.message] {
            let detail = psql.serverInfo?[.detail].map { " (\($0))" } ?? ""
            let code = psql.serverInfo?[.sqlState].map { " [\($0)]" } ?? ""
            return "database: \(message)\(detail)\(code)"
        }
        return "database: \(psql.code)" + (psql.underlying.map { ": \($0)" } ?? "")
    }
    if let transaction = error as? PostgresTransactionError {
        return readableDescription(of: transaction.closureError ?? transaction.beginError ?? transaction.commitError ?? error)
    }
    return String(describing: error)
}

extension PSQLError {
    /// The statement waited on a row that a concurrent transaction moved to another partition
    /// of `evently_jobs.jobs` (a job finishing, or retried: q0005), or otherwise failed to
    /// serialize (40001). On a primary in READ COMMITTED, where our statements run, moving a row
    /// is what causes it; the statement can run again and find the row where it went.
    public var isRowMovedByConcurrentUpdate: Bool {
        serverInfo?[.sqlState] == "40001"
    }
}
