/// The queue's schema changes, in order. Add new files as `q0002_...sql`; never edit a shipped one.
public enum QueueSchema {
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(module: "queue", resourceName: "q0001_jobs.sql", bytes: PackageResources.q0001_jobs_sql),
        SchemaMigration(module: "queue", resourceName: "q0002_daemons.sql", bytes: PackageResources.q0002_daemons_sql),
        SchemaMigration(module: "queue", resourceName: "q0003_console.sql", bytes: PackageResources.q0003_console_sql),
        SchemaMigration(module: "queue", resourceName: "q0004_console_speed.sql", bytes: PackageResources.q0004_console_speed_sql),
        SchemaMigration(module: "queue", resourceName: "q0005_finished_partition.sql", bytes: PackageResources.q0005_finished_partition_sql),
        SchemaMigration(module: "queue", resourceName: "q0006_drop_days_one_at_a_time.sql", bytes: PackageResources.q0006_drop_days_one_at_a_time_sql),
    ]
}
