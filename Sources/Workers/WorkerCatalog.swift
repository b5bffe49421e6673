import PostgresNIO
import Queue

/// Every job kind the daemon runs, registered in one place; a duplicate kind fails startup.
public enum WorkerCatalog {
    /// - Parameters:
    ///   - client: the pool workers use for their own queries.
    ///   - retention: how long finished jobs are kept by `queue.prune`.
    ///   - booking: offer window and pricing for the waitlist workers.
    public static func makeRegistry(client: PostgresClient, retention: Duration,
                                    booking: BookingSettings = BookingSettings()) throws -> WorkerRegistry {
        var registry = WorkerRegistry()
        try DiagnosticWorkers.register(in: &registry)
        try registry.register(RetentionWorker(client: client, retention: retention))
        try registry.register(WaitlistPromotionWorker(client: client, settings: booking))
        try registry.register(WaitlistLapseWorker(client: client))
        return registry
    }
}
