import Foundation
import Logging
import PostgresNIO
import Queue

/// The statements on `evently_jobs.schedule_ticks`.
public enum ScheduleTicks {
    /// Inserts the tick; `false` when another daemon recorded it first.
    static func claim(schedule: String, tick: Date, by instance: String,
                      on connection: PostgresConnection, logger: Logger) async throws -> Bool {
        let rows = try await connection.openQuery("""
            INSERT INTO evently_jobs.schedule_ticks (schedule, tick, enqueued_by)
            VALUES (\(schedule), \(tick), \(instance))
            ON CONFLICT (schedule, tick) DO NOTHING
            RETURNING 1
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    static func attach(jobID: Int64, schedule: String, tick: Date, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.openQuery("""
            UPDATE evently_jobs.schedule_ticks SET job_id = \(jobID) WHERE schedule = \(schedule) AND tick = \(tick)
            """, logger: logger)
    }

    /// The latest tick recorded for `schedule`.
    public static func lastTick(schedule: String, client: PostgresClient, logger: Logger) async throws -> Date? {
        let rows = try await client.query(
            "SELECT max(tick) FROM evently_jobs.schedule_ticks WHERE schedule = \(schedule)", logger: logger)
        for try await tick in rows.decode(Date?.self) { return tick }
        return nil
    }

    /// Deletes ticks older than `age`, keeping each schedule's latest (the resume point).
    public static func prune(olderThan age: Duration, client: PostgresClient, logger: Logger) async throws {
        try await client.query("""
            DELETE FROM evently_jobs.schedule_ticks AS t
            WHERE t.tick < now() - \(age.timeInterval) * interval '1 second'
              AND t.tick < (SELECT max(tick) FROM evently_jobs.schedule_ticks AS l WHERE l.schedule = t.schedule)
            """, logger: logger)
    }
}

/// The scheduler's schema changes, in order.
public enum SchedulerSchema {
    public static let migrations: [SchemaMigration] = [
        SchemaMigration(module: "scheduler", resourceName: "s0001_schedule_ticks.sql", bytes: PackageResources.s0001_schedule_ticks_sql),
    ]
}
