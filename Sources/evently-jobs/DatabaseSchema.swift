import Logging
import Queue
import Scheduler

/// Every module's migrations, in the order modules were introduced.
enum DatabaseSchema {
    static var migrations: [SchemaMigration] { QueueSchema.migrations + SchedulerSchema.migrations }

    static func migrator(logger: Logger) -> SchemaMigrator {
        SchemaMigrator(migrations: migrations, logger: logger)
    }
}
