import EventlyTestSupport
import Logging
import PostgresNIO
import Queue
import Testing

@Suite(.timeLimit(.minutes(5))) struct SchemaMigratorTests {
    let logger = TestDatabase.logger

    func appliedRows(_ client: PostgresClient) async throws -> [String] {
        var names: [String] = []
        let rows = try await client.query(
            "SELECT module || '/' || version FROM public.evently_schema_migrations ORDER BY 1", logger: logger)
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }

    @Test func applyingTwiceIsANoOp() async throws {
        try await TestDatabase.withClient { client in
            let migrator = SchemaMigrator(migrations: QueueSchema.migrations, logger: logger)
            let first = try await migrator.migrate(client)
            #expect(first.count == QueueSchema.migrations.count)
            let second = try await migrator.migrate(client)
            #expect(second.isEmpty)
            #expect(try await appliedRows(client) == QueueSchema.migrations.map { "\($0.module)/\($0.version)" })
            #expect(try await migrator.isUpToDate(on: client))
        }
    }

    @Test func concurrentMigratorsEachApplyEveryMigrationOnce() async throws {
        try await TestDatabase.withClient { client in
            let migrations = QueueSchema.migrations + [
                SchemaMigration(module: "probe", version: 1, name: "counter",
                                sql: "CREATE TABLE probe_runs (n int); INSERT INTO probe_runs VALUES (1);"),
            ]
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await SchemaMigrator(migrations: migrations, logger: logger).migrate(client).count
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(results.count == 6)
            #expect(results.filter { $0 > 0 } == [migrations.count], "exactly one migrator applies, the others find nothing to do")
            let probeRows = try await client.query("SELECT count(*) FROM probe_runs", logger: logger)
                .collect().first?.decode(Int.self)
            #expect(probeRows == 1)
            #expect(try await appliedRows(client).count == migrations.count)
        }
    }

    @Test func newerDatabaseIsRefused() async throws {
        try await TestDatabase.withClient { client in
            let newer = QueueSchema.migrations + [SchemaMigration(module: "queue", version: 99, name: "future", sql: "SELECT 1")]
            try await SchemaMigrator(migrations: newer, logger: logger).migrate(client)
            let error = await #expect(throws: SchemaMigratorError.self) {
                try await SchemaMigrator(migrations: QueueSchema.migrations, logger: logger).migrate(client)
            }
            let known = QueueSchema.migrations.map(\.version).max() ?? 0
            #expect(error == .databaseIsNewer(module: "queue", databaseVersion: 99, binaryVersion: known))
            #expect(error?.description.contains("newer than this binary knows") == true)
        }
    }

    @Test func failingMigrationLeavesNothingBehind() async throws {
        try await TestDatabase.withClient { client in
            let broken = [
                SchemaMigration(module: "probe", version: 1, name: "good", sql: "CREATE TABLE probe_good (n int)"),
                SchemaMigration(module: "probe", version: 2, name: "bad", sql: "CREATE TABLE probe_bad (n int); SELECT * FROM missing_table;"),
            ]
            await #expect(throws: (any Error).self) {
                try await SchemaMigrator(migrations: broken, logger: logger).migrate(client)
            }
            let tables = try await client.query(
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'probe_%'", logger: logger).collect().first?.decode(Int.self)
            #expect(tables == 0)
        }
    }
}
