import ServiceLifecycle

/// Runs the ``LiveHub`` as a service of the daemon's group: it stops (ending every stream) on
/// graceful shutdown.
struct LiveService: Service {
    let hub: LiveHub

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.hub.run() }
    }
}
