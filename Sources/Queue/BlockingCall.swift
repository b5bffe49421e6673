import Foundation

/// Runs blocking work (waiting for a child process, a blocking socket, `pg_ctl`) on a thread of
/// its own and awaits its result.
///
/// Swift's cooperative pool has one thread per core: two cores here. A `waitpid` or a blocking
/// `recv` called straight from async code holds one of those two threads for its whole wait, and
/// two of them stop every task in the process (HTTP handlers, lease renewals) until they return.
public func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try work() })
        }
        thread.name = "evently-blocking-call"
        thread.start()
    }
}
