/// The last readiness check and when it finished; callers within `maxAge` of it get its
/// answer, and concurrent callers past it share one new check.
actor ReadinessCache {
    enum State: Sendable, Equatable {
        case ready
        case notReady(String)
    }

    private var last: (finished: ContinuousClock.Instant, state: State)?
    private var running: Task<State, Never>?
    /// Checks made so far (tests read it).
    private(set) var checks = 0

    func current(maxAge: Duration, check: @escaping @Sendable () async -> State) async -> State {
        if let last, ContinuousClock.now - last.finished < maxAge { return last.state }
        if let running { return await running.value }
        let task = Task { await check() }
        running = task
        checks += 1
        let state = await task.value
        last = (ContinuousClock.now, state)
        running = nil
        return state
    }
}
