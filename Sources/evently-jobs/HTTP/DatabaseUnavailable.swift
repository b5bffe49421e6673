import BookingCore
import PostgresNIO
import Queue

/// Errors that mean "the database is not there right now" (answered 503 with Retry-After),
/// as opposed to a bug (500).
enum DatabaseUnavailable {
    static func matches(_ error: any Error) -> Bool {
        switch error {
        case is ConnectionClosed, is DatabaseConnectionLost, is DeadlineExceeded:
            return true
        case let error as PSQLError:
            switch error.code {
            case .serverClosedConnection, .connectionError, .uncleanShutdown, .clientClosedConnection, .poolClosed:
                return true
            default:
                // The server is shutting down or starting (57P01 admin_shutdown, 57P03
                // cannot_connect_now), or it stopped taking writes under a connection opened
                // before (25006 read_only_sql_transaction: a primary demoted or made read-only,
                // which the failover relay notices within a second, see WritableHostRouter).
                return ["57P01", "57P02", "57P03", "25006"].contains(error.serverInfo?[.sqlState] ?? "")
            }
        default:
            return false
        }
    }
}
