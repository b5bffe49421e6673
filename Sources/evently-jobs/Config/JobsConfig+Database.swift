import Foundation

extension JobsConfig {
    /// `[database]`: where the data lives and how many connections the daemon opens.
    struct Database: Sendable {
        /// A `postgres://` URL; `nil` means the embedded cluster.
        var url: String?
        /// Where the embedded cluster lives, relative to the config file's folder.
        var embeddedDirectory: String = ".evently/postgres"
        var poolSize: Int = 12
        var connectTimeout: Duration = .seconds(5)
        /// The per-job and per-message statements as named prepared statements (``StatementPreparation``);
        /// off for PgBouncer before 1.21 in transaction mode.
        var preparedStatements = true
    }

    /// The embedded cluster's folder as an absolute URL.
    var embeddedDirectoryURL: URL { url(relativeToConfig: database.embeddedDirectory) }

    /// `database.url` and `EVENTLY_DATABASE_URL`.
    static func databaseURL(_ text: String) throws(ConfValue.ParseError) -> String {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            throw ConfValue.ParseError(message: "must be a postgres:// URL")
        }
        return text
    }
}

extension ConfReader {
    mutating func database() throws(ConfigError) -> JobsConfig.Database {
        var database = JobsConfig.Database()
        database.url = try string("database", "url", JobsConfig.databaseURL)
        database.embeddedDirectory = try string("database", "embedded_dir") ?? database.embeddedDirectory
        database.poolSize = try integer("database", "pool_size", in: 2...500) ?? database.poolSize
        database.connectTimeout = try duration("database", "connect_timeout") ?? database.connectTimeout
        database.preparedStatements = try boolean("database", "prepared_statements") ?? database.preparedStatements
        return database
    }
}
