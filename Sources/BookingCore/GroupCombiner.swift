import Synchronization

/// Runs requests that share a key (bookings of one event) in groups: while a group of a key is
/// being run, the requests of that key that arrive wait, and all of them go together in the next
/// group, up to `maximumGroup`. No timer: a request to an idle key runs at once, alone; under
/// load, groups grow by themselves to what arrived during one group's run.
///
/// No task of its own either: the request that finds its key idle runs the group in its own task
/// and then hands the next group to the first of the requests that waited, which runs it in its
/// task. Every request ends with its own answer.
public final class GroupCombiner<Key: Hashable & Sendable, Request: Sendable, Response: Sendable>: Sendable {
    /// Runs one group; one result per request, in order.
    public typealias RunGroup = @Sendable (_ key: Key, _ requests: [Request]) async -> [Result<Response, any Error>]

    private enum Turn: Sendable {
        case answered(Result<Response, any Error>)
        case lead([Waiter])
    }

    private struct Waiter: Sendable {
        var request: Request
        var continuation: CheckedContinuation<Turn, Never>
    }

    /// Keys with a group running, and the requests waiting for the next.
    private let waiting = Mutex<[Key: [Waiter]]>([:])
    private let maximumGroup: Int
    private let runGroup: RunGroup
    private let failsWaiting: @Sendable (any Error) -> Bool

    /// - Parameter failsWaiting: an error that, when every request of a group failed with it,
    ///   answers every request waiting behind the group at once with the same error (the
    ///   database is unreachable: running group after group, each to its own deadline, would
    ///   make the last of a long queue wait for all of them). The next request tries again.
    public init(maximumGroup: Int, failsWaiting: @escaping @Sendable (any Error) -> Bool = { _ in false },
                runGroup: @escaping RunGroup) {
        precondition(maximumGroup >= 1)
        self.maximumGroup = maximumGroup
        self.failsWaiting = failsWaiting
        self.runGroup = runGroup
    }

    /// The answer to `request`, run in a group with the other requests of `key` that wait with it.
    public func submit(_ request: Request, key: Key) async throws -> Response {
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let me = Waiter(request: request, continuation: continuation)
            let leadsAlone = waiting.withLock { waiting -> Bool in
                if waiting[key] != nil {
                    waiting[key]!.append(me)
                    return false
                }
                waiting[key] = []
                return true
            }
            if leadsAlone { continuation.resume(returning: .lead([me])) }
        }
        switch turn {
        case .answered(let result):
            return try result.get()
        case .lead(let group):
            // In a task of its own: the leader is only whichever request waited first, and its
            // cancellation (a client that went away) must not cancel the others' group.
            let requests = group.map(\.request)
            let results = await Task { [runGroup] in await runGroup(key, requests) }.value
            let failures = results.compactMap { result -> (any Error)? in
                if case .failure(let error) = result { return error }
                return nil
            }
            let sharedFailure = results.count == group.count && failures.count == results.count && failures.allSatisfy(failsWaiting)
                ? failures.first : nil
            let failAll = sharedFailure != nil
            let (next, failed) = waiting.withLock { waiting -> ([Waiter], [Waiter]) in
                let queued = waiting[key] ?? []
                if queued.isEmpty || failAll {
                    waiting[key] = nil
                    return ([], queued)
                }
                let taken = Array(queued.prefix(maximumGroup))
                waiting[key] = Array(queued.dropFirst(taken.count))
                return (taken, [])
            }
            if let sharedFailure {
                for waiter in failed { waiter.continuation.resume(returning: .answered(.failure(sharedFailure))) }
            }
            if let first = next.first { first.continuation.resume(returning: .lead(next)) }
            // The leader is the first of its group.
            for (waiter, result) in zip(group, results).dropFirst() { waiter.continuation.resume(returning: .answered(result)) }
            if results.count < group.count {
                for waiter in group.dropFirst(max(results.count, 1)) {
                    waiter.continuation.resume(returning: .answered(.failure(GroupAnswerMissing())))
                }
            }
            guard let mine = results.first else { throw GroupAnswerMissing() }
            return try mine.get()
        }
    }

    /// Requests of `key` waiting for its running group to end (0 when none runs).
    public func waitingCount(for key: Key) -> Int {
        waiting.withLock { $0[key]?.count ?? 0 }
    }

    /// `runGroup` returned fewer results than requests (a programming error, answered rather than hung).
    public struct GroupAnswerMissing: Error {}
}
