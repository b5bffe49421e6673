import Foundation
import Logging
import PostgresNIO
import Queue
import Synchronization

/// The PostgreSQL that tests run against: one private cluster per test process, created under
/// the system's temp folder, tuned for speed (no fsync), and stopped when the process exits.
///
/// Each suite gets its own fresh database from ``makeDatabase(prefix:)``. When the cluster cannot
/// be started the error propagates and the test fails: tests are never skipped for a missing database.
public enum TestDatabase {
    private static let shared = Mutex<Result<EmbeddedPostgres, any Error>?>(nil)
    private static let counter = Atomic<Int>(0)

    public static var logger: Logger {
        var logger = Logger(label: "evently-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }

    /// The shared cluster, started on first use. Waited for on a thread of its own: the first
    /// start takes seconds, and every suite asks for it at once.
    public static func cluster() async throws -> EmbeddedPostgres {
        try await onOwnThread { try startedCluster() }
    }

    private static func startedCluster() throws -> EmbeddedPostgres {
        try shared.withLock { state in
            if let state { return try state.get() }
            let result = Result<EmbeddedPostgres, any Error> {
                let directory = URL(fileURLWithPath: NSTemporaryDirectory())
                    .appendingPathComponent("evently-tests-\(getpid())")
                // Suites run in parallel, each test with a pool of its own: at 300 connections
                // the server refused some ("too many clients"), and a PostgresNIO pool whose
                // first connections were refused was seen to wait forever (a whole-run hang).
                let cluster = EmbeddedPostgres(
                    directory: directory,
                    settings: ["fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "1500"],
                    logger: logger)
                try cluster.start()
                clusterToStopAtExit.withLock { $0 = cluster }
                atexit {
                    if let cluster = TestDatabase.clusterToStopAtExit.withLock({ $0 }) {
                        try? cluster.stop()
                        try? FileManager.default.removeItem(at: cluster.directory)
                    }
                }
                return cluster
            }
            state = result
            return try result.get()
        }
    }

    static let clusterToStopAtExit = Mutex<EmbeddedPostgres?>(nil)

    /// Creates an empty database and returns a client configuration for it.
    public static func makeDatabase(prefix: String = "test") async throws -> PostgresClient.Configuration {
        let cluster = try await cluster()
        let name = "\(prefix)_\(getpid())_\(counter.wrappingAdd(1, ordering: .relaxed).newValue)"
        let admin = try await PostgresConnection.connect(
            configuration: .init(unixSocketPath: cluster.socketPath, username: cluster.username, password: nil, database: "postgres"),
            id: 1, logger: logger)
        do {
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
        } catch {
            try? await admin.close()
            throw error
        }
        try await admin.close()
        return cluster.clientConfiguration(database: name)
    }

    /// Runs `body` with a running client on a fresh database that has had `migrations` applied.
    public static func withClient<T: Sendable>(
        migrations: [SchemaMigration] = [],
        maximumConnections: Int = 20,
        _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        var configuration = try await makeDatabase()
        configuration.options.maximumConnections = maximumConnections
        return try await withClient(configuration: configuration) { client in
            if !migrations.isEmpty {
                try await SchemaMigrator(migrations: migrations, logger: logger).migrate(client)
            }
            return try await body(client)
        }
    }

    /// Runs `body` with a running client on `configuration` (a database that already exists);
    /// the client stops when `body` returns.
    public static func withClient<T: Sendable>(
        configuration: PostgresClient.Configuration,
        _ body: (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // Let the pool start before the first lease, which it would otherwise log as a warning.
            try await Task.sleep(for: .milliseconds(5))
            do {
                return try await body(client)
            } catch let error as PSQLError {
                // PSQLError's description hides the server's message; a failing test needs it.
                throw ServerError(detail: String(reflecting: error))
            }
        }
    }

    public struct ServerError: Error, CustomStringConvertible {
        public var detail: String
        public var description: String { "PostgreSQL: \(detail)" }
    }
}
