import PostgresNIO
import Queue

/// Every job kind the daemon runs, registered in one place; a duplicate kind fails startup.
public enum WorkerCatalog {
    /// - Parameters:
    ///   - client: the pool workers use for their own queries.
    ///   - retention: how long finished jobs are kept by `queue.prune`.
    public static func makeRegistry(client: PostgresClient, retention: Duration) throws -> WorkerRegistry {
        var registry = WorkerRegistry()
        try DiagnosticWorkers.register(in: &registry)
        try registry.register(RetentionWorker(client: client, retention: retention))
        return registry
    }
}
