import Synchronization

/// The operation did not finish within its deadline.
public struct DeadlineExceeded: Error, CustomStringConvertible {
    public var limit: Duration
    public var description: String { "no answer within \(limit)" }
}

/// Runs `operation` and returns its result, or throws ``DeadlineExceeded`` once `limit` has
/// passed, without waiting for the operation to end.
///
/// The operation runs in a task of its own, cancelled at the deadline (or when the caller is
/// cancelled) but never awaited after it: a PostgresNIO query on a connection the server dropped
/// can wait forever and ignore cancellation (compare postgres-nio issues #487 and #601), and a
/// caller that waited for it, say in a task group, would hang with it. Use it wherever the
/// caller must go on: lease renewal, heartbeats, writing outcomes while stopping.
public func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.waiting.withLock { $0 = continuation }
            let timer = Task {
                do { try await Task.sleep(for: limit) } catch { return }
                race.finish(.failure(DeadlineExceeded(limit: limit)))
                race.work.withLock { $0 }?.cancel()
            }
            let task = Task {
                let result: Result<T, any Error>
                do { result = .success(try await operation()) } catch { result = .failure(error) }
                timer.cancel()
                race.finish(result)
            }
            race.work.withLock { $0 = task }
            if Task.isCancelled { task.cancel() }
        }
    } onCancel: {
        race.work.withLock { $0 }?.cancel()
    }
}

/// Whichever of the operation and the timer ends first resumes the caller; the other finds
/// nothing left to resume.
private final class DeadlineRace<T: Sendable>: Sendable {
    let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let work = Mutex<Task<Void, Never>?>(nil)

    func finish(_ result: Result<T, any Error>) {
        waiting.withLock { $0.take() }?.resume(with: result)
    }
}
