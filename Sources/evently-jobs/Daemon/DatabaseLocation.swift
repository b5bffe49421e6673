import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Queue

/// The database the daemon uses: a configured `postgres://` URL or the embedded cluster.
enum DatabaseLocation: Sendable {
    case url(String)
    case embedded(EmbeddedPostgres)

    init(config: JobsConfig, logger: Logger) {
        if let url = config.database.url {
            self = .url(url)
        } else {
            self = .embedded(EmbeddedPostgres(directory: config.embeddedDirectoryURL, logger: logger))
        }
    }

    /// Starts the embedded cluster when that is what we use, and returns a client configuration.
    func prepare(config: JobsConfig, logger: Logger) throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        switch self {
        case .url(let url):
            configuration = try Self.clientConfiguration(url: url)
            logger.info("using database \(Self.redacted(url))")
        case .embedded(let cluster):
            try cluster.start()
            configuration = cluster.clientConfiguration(database: "postgres")
            logger.info("using embedded PostgreSQL in \(cluster.directory.path) (socket \(cluster.socketPath)); set database.url or EVENTLY_DATABASE_URL to use another database")
        }
        configuration.options.maximumConnections = config.database.poolSize
        configuration.options.connectTimeout = config.database.connectTimeout
        return configuration
    }

    /// Stops the embedded cluster if this process owns it.
    func shutDown(logger: Logger) {
        guard case .embedded(let cluster) = self else { return }
        do { try cluster.stop() } catch { logger.error("could not stop embedded PostgreSQL: \(error)") }
    }

    /// The TLS of a connection of its own (the LISTEN connection) to the database `url` names,
    /// as its `sslmode` asks; none for the embedded cluster's unix socket.
    static func connectionTLS(url: String?) throws -> PostgresConnection.Configuration.TLS {
        guard let url, let components = URLComponents(string: url) else { return .disable }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        switch query["sslmode"] ?? "prefer" {
        case "disable": return .disable
        case "require", "verify-ca", "verify-full": return .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default: return .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
    }

    /// Where the daemon's LISTEN connections go: `database.listen_url` when set, else the
    /// database itself, or nowhere (`nil`, poll-only) when `database.url` goes through a
    /// transaction pooler, where a LISTEN would be left on whichever server connection ran it.
    static func listenConnection(config: JobsConfig, clientConfiguration: PostgresClient.Configuration) throws
        -> PostgresConnection.Configuration? {
        if let url = config.database.listenURL {
            return PostgresConnection.Configuration(sameServerAs: try Self.clientConfiguration(url: url), tls: try connectionTLS(url: url))
        }
        guard config.database.listens else { return nil }
        return PostgresConnection.Configuration(sameServerAs: clientConfiguration, tls: try connectionTLS(url: config.database.url))
    }

    /// The relay that follows the writable one of `hosts`, asking each as the daemon's own user.
    static func startRouter(hosts: DatabaseHosts, config: JobsConfig, logger: Logger) async throws -> WritableHostRouter {
        // User, password, database and TLS are the same for every host; the host comes from the
        // list itself (an IPv6 literal keeps no brackets there).
        let sample = hosts.url(through: .init(name: "localhost", port: 5432))
        let credentials = try clientConfiguration(url: sample)
        let tls = try connectionTLS(url: sample)
        let probeTimeout = TimeAmount.milliseconds(Int64(WritableHostRouter.probeDeadline / .milliseconds(1)))
        return try await WritableHostRouter.start(hosts: hosts, holdLimit: config.database.connectTimeout, login: { host in
            var login = PostgresConnection.Configuration(host: host.name, port: host.port, username: credentials.username,
                                                         password: credentials.password, database: credentials.database, tls: tls)
            login.options.connectTimeout = probeTimeout
            return login
        }, logger: logger)
    }

    /// A URL with its password hidden, for logs.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }

    /// Reads `postgres://user:password@host:port/database?sslmode=...` (also `host=` for a
    /// unix-socket folder, as libpq does).
    static func clientConfiguration(url: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: url),
              components.scheme == "postgres" || components.scheme == "postgresql" else {
            throw ConfigError(file: "database.url", line: nil, key: nil, message: "not a postgres:// URL: \(redacted(url))")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let username = components.user ?? "postgres"
        let password = components.password
        let database = components.path.isEmpty || components.path == "/" ? username : String(components.path.dropFirst())
        if let socketFolder = query["host"], socketFolder.hasPrefix("/") {
            let port = components.port ?? 5432
            return .init(unixSocketPath: "\(socketFolder)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "prefer", "allow": tls = .prefer(.makeClientConfiguration())
        case "require", "verify-ca", "verify-full": tls = .require(.makeClientConfiguration())
        case let other:
            throw ConfigError(file: "database.url", line: nil, key: "sslmode", message: "unknown sslmode '\(other)'")
        }
        return .init(host: components.host ?? "localhost", port: components.port ?? 5432,
                     username: username, password: password, database: database, tls: tls)
    }
}
