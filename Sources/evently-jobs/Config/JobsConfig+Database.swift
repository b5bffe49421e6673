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
        /// `url` goes through a pooler in transaction mode (PgBouncer `pool_mode = transaction`):
        /// nothing may outlive a transaction on its connections, so prepared statements are off
        /// and LISTEN goes only to ``listenURL``.
        var transactionPooling = false
        /// A direct `postgres://` URL to the same database for LISTEN (session state a
        /// transaction pooler cannot keep); `nil`: `url` itself, or, with transaction pooling,
        /// no LISTEN at all (poll-only).
        var listenURL: String?
        /// A streaming replica for reads that may be a little behind (``ReadTargets``).
        var replicaURL: String?
        /// Past this lag (or unreachable) the replica's reads go to the primary.
        var replicaMaxLag: Duration = .seconds(10)

        /// Whether the per-job statements are prepared, all settings considered.
        var preparesStatements: Bool { preparedStatements && !transactionPooling }
        /// Whether the daemon can LISTEN: always, unless a transaction pooler is in the way and
        /// no direct URL is given.
        var listens: Bool { !transactionPooling || listenURL != nil }
    }

    /// The embedded cluster's folder as an absolute URL.
    var embeddedDirectoryURL: URL { url(relativeToConfig: database.embeddedDirectory) }

    /// `database.url` and `EVENTLY_DATABASE_URL`.
    static func databaseURL(_ text: String) throws(ConfValue.ParseError) -> String {
        guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
            throw ConfValue.ParseError(message: "must be a postgres:// URL")
        }
        // Several hosts (failover) are checked here, so a mistake names its line.
        _ = try DatabaseHosts.parse(text)
        return text
    }

    /// `database.listen_url` and `database.replica_url`: one server each.
    static func singleHostDatabaseURL(_ text: String) throws(ConfValue.ParseError) -> String {
        let url = try databaseURL(text)
        guard try DatabaseHosts.parse(url) == nil else {
            throw ConfValue.ParseError(message: "names several hosts; only database.url may (the daemon follows its writable host)")
        }
        return url
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
        database.transactionPooling = try boolean("database", "transaction_pooling") ?? database.transactionPooling
        database.listenURL = try string("database", "listen_url", JobsConfig.singleHostDatabaseURL)
        database.replicaURL = try string("database", "replica_url", JobsConfig.singleHostDatabaseURL)
        database.replicaMaxLag = try between("database", "replica_max_lag", .milliseconds(100), .seconds(86_400)) ?? database.replicaMaxLag
        return database
    }
}
