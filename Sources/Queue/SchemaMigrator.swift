import Logging
import PostgresNIO

/// Applies ordered ``SchemaMigration``s once each, safely when several processes start at once.
///
/// All pending migrations run in one transaction that first takes a transaction-scoped advisory
/// lock: a second migrator waits on the lock, then sees everything recorded and applies nothing.
/// A database that records a migration newer than any this binary knows is refused, because
/// running old code against a newer schema is how data gets half-written.
public struct SchemaMigrator: Sendable {
    /// The advisory lock key; an arbitrary constant shared by every evently-jobs binary.
    static let advisoryLockKey: Int64 = 0x6576_656E_746C_79   // "evently"

    public let migrations: [SchemaMigration]
    let logger: Logger

    /// - Precondition: `(module, version)` pairs are unique.
    public init(migrations: [SchemaMigration], logger: Logger) {
        self.migrations = migrations.sorted { ($0.module, $0.version) < ($1.module, $1.version) }
        self.logger = logger
        precondition(Set(migrations.map { "\($0.module)/\($0.version)" }).count == migrations.count,
                     "duplicate migration versions")
    }

    /// Applies what is missing and returns the migrations applied by this call (empty when none).
    ///
    /// - Throws: ``SchemaMigratorError/databaseIsNewer`` when the database holds migrations this
    ///   binary does not know; any SQL error of a migration (nothing of the run is kept then).
    @discardableResult
    public func migrate(_ client: PostgresClient) async throws -> [SchemaMigration] {
        try await client.withOpenConnection { connection in
            try await migrate(on: connection)
        }
    }

    /// Same as ``migrate(_:)`` on a connection the caller holds (not inside a transaction).
    @discardableResult
    public func migrate(on connection: PostgresConnection) async throws -> [SchemaMigration] {
        let applied = try await connection.transaction(logger: logger) { tx -> [SchemaMigration] in
            try await tx.query("SELECT pg_advisory_xact_lock(\(Self.advisoryLockKey))", logger: logger)
            try await tx.query("""
                CREATE TABLE IF NOT EXISTS public.evently_schema_migrations (
                    module      text        NOT NULL,
                    version     integer     NOT NULL,
                    name        text        NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (module, version)
                )
                """, logger: logger)
            let recorded = try await Self.recordedVersions(on: tx, logger: logger)
            try checkNotNewer(recorded)

            var appliedNow: [SchemaMigration] = []
            for migration in migrations where !recorded.contains(.init(migration.module, migration.version)) {
                try await tx.query(PostgresQuery(unsafeSQL: Self.wrapAsOneStatement(migration.sql)), logger: logger)
                try await tx.query("""
                    INSERT INTO public.evently_schema_migrations (module, version, name)
                    VALUES (\(migration.module), \(migration.version), \(migration.name))
                    """, logger: logger)
                appliedNow.append(migration)
            }
            return appliedNow
        }
        for migration in applied {
            logger.info("applied migration", metadata: [
                "module": "\(migration.module)", "version": "\(migration.version)", "name": "\(migration.name)",
            ])
        }
        return applied
    }

    /// Whether every migration this binary knows is recorded (what `/readyz` checks).
    public func isUpToDate(on client: PostgresClient) async throws -> Bool {
        let recorded = try await client.withOpenConnection { connection in
            try await Self.recordedVersions(on: connection, logger: logger)
        }
        return migrations.allSatisfy { recorded.contains(.init($0.module, $0.version)) }
    }

    struct ModuleVersion: Hashable {
        var module: String
        var version: Int
        init(_ module: String, _ version: Int) { (self.module, self.version) = (module, version) }
    }

    static func recordedVersions(on connection: PostgresConnection, logger: Logger) async throws -> Set<ModuleVersion> {
        let exists = try await connection.query(
            "SELECT to_regclass('public.evently_schema_migrations') IS NOT NULL", logger: logger
        ).collect().first?.decode(Bool.self) ?? false
        guard exists else { return [] }
        var result: Set<ModuleVersion> = []
        let rows = try await connection.query(
            "SELECT module, version FROM public.evently_schema_migrations", logger: logger)
        for try await (module, version) in rows.decode((String, Int).self) {
            result.insert(.init(module, version))
        }
        return result
    }

    func checkNotNewer(_ recorded: Set<ModuleVersion>) throws {
        let known = Dictionary(grouping: migrations, by: \.module).mapValues { $0.map(\.version).max() ?? 0 }
        for entry in recorded.sorted(by: { ($0.module, $0.version) < ($1.module, $1.version) }) {
            guard let newestKnown = known[entry.module], entry.version <= newestKnown else {
                throw SchemaMigratorError.databaseIsNewer(
                    module: entry.module, databaseVersion: entry.version, binaryVersion: known[entry.module] ?? 0)
            }
        }
    }

    /// The extended query protocol runs one statement per query; a migration file holds several.
    /// A `DO` block whose body `EXECUTE`s the file runs them all, inside our transaction.
    static func wrapAsOneStatement(_ sql: String) -> String {
        var tag = "evently_migration"
        while sql.contains("$\(tag)$") { tag += "_" }
        var inner = "evently_sql"
        while sql.contains("$\(inner)$") || inner == tag { inner += "_" }
        return "DO $\(tag)$ BEGIN EXECUTE $\(inner)$\(sql)$\(inner)$; END $\(tag)$"
    }
}

/// Why migrating was refused.
public enum SchemaMigratorError: Error, CustomStringConvertible, Equatable {
    case databaseIsNewer(module: String, databaseVersion: Int, binaryVersion: Int)

    public var description: String {
        switch self {
        case let .databaseIsNewer(module, databaseVersion, binaryVersion):
            return "the database schema of module '\(module)' is at version \(databaseVersion), newer than "
                + "this binary knows (\(binaryVersion)); run a newer evently-jobs against this database"
        }
    }
}
