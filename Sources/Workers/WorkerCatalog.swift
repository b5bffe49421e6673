import Queue

/// Every job kind the daemon runs, registered in one place; a duplicate kind fails startup.
public enum WorkerCatalog {
    public static func makeRegistry() throws -> WorkerRegistry {
        var registry = WorkerRegistry()
        try DiagnosticWorkers.register(in: &registry)
        return registry
    }
}
