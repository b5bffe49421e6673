/// One ordered schema change owned by a module.
///
/// Migrations are identified by `(module, version)`; versions of one module apply in ascending
/// order and are recorded in `public.evently_schema_migrations` so each applies exactly once.
public struct SchemaMigration: Sendable, Hashable {
    /// The owning module, e.g. `"queue"` or `"booking"`.
    public var module: String
    /// Position within the module's migrations, starting at 1.
    public var version: Int
    /// A short name for logs and the migrations table.
    public var name: String
    /// The SQL, possibly several statements.
    public var sql: String

    public init(module: String, version: Int, name: String, sql: String) {
        self.module = module
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Builds a migration from an embedded `.sql` resource named like `q0001_jobs.sql`.
    public init(module: String, resourceName: String, bytes: [UInt8]) {
        let stem = resourceName.split(separator: ".").first.map(String.init) ?? resourceName
        let digits = stem.drop(while: { !$0.isNumber }).prefix(while: \.isNumber)
        let name = stem.split(separator: "_", maxSplits: 1).dropFirst().first.map(String.init) ?? stem
        self.init(
            module: module,
            version: Int(digits) ?? 0,
            name: name,
            sql: String(decoding: bytes, as: UTF8.self)
        )
    }
}
