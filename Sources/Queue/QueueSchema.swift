/// The queue's schema changes, in order. Add new files as `q0002_...sql`; never edit a shipped one.
public enum QueueSchema {
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(module: "queue", resourceName: "q0001_jobs.sql", bytes: PackageResources.q0001_jobs_sql),
    ]
}
