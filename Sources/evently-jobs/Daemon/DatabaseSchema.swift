import BookingCore
import Logging
import Queue
import Scheduler

/// Every module's migrations, in the order modules were introduced.
enum DatabaseSchema {
    static var migrations: [SchemaMigration] {
        QueueSchema.migrations + SchedulerSchema.migrations + BookingSchema.migrations.map {
            SchemaMigration(module: BookingSchema.module, version: $0.version, name: $0.name, sql: $0.sql)
        }
    }

    static func migrator(logger: Logger) -> SchemaMigrator {
        SchemaMigrator(migrations: migrations, logger: logger)
    }
}
