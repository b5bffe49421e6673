import ServiceLifecycle
import Synchronization

/// Triggers a daemon's graceful shutdown from code.
final class ShutdownHandle: Sendable {
    private let state = Mutex<(group: ServiceGroup?, requested: Bool)>((nil, false))

    func attach(_ group: ServiceGroup) {
        let requested = state.withLock { state -> Bool in
            state.group = group
            return state.requested
        }
        if requested { Task { await group.triggerGracefulShutdown() } }
    }

    /// Starts the graceful shutdown (now, or as soon as the daemon is up).
    func trigger() async {
        let group = state.withLock { state -> ServiceGroup? in
            state.requested = true
            return state.group
        }
        await group?.triggerGracefulShutdown()
    }
}
