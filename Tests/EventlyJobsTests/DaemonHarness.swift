import AsyncHTTPClient
import EventlyTestSupport
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Prometheus
import Queue
import Synchronization
import Testing
import Workers
@testable import evently_jobs

/// Runs a daemon on its own embedded cluster with an ephemeral HTTP port.
struct DaemonHarness {
    let cluster: EmbeddedPostgres
    let port: Int
    /// Between the daemon and its database when the harness was asked for one.
    var proxy: FaultProxy? = nil

    static func with<T: Sendable>(configure: (inout JobsConfig) -> Void = { _ in }, proxied: Bool = false,
                                  _ body: (DaemonHarness) async throws -> T) async throws -> T {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cluster = EmbeddedPostgres(directory: directory, settings: ["fsync": "off"], logger: TestDatabase.logger)
        try await cluster.start()
        defer { try? cluster.stop() }

        var config = try JobsConfig(file: ConfFile(path: directory.appendingPathComponent("jobs.conf").path, text: ""))
        config.http.port = 0
        // Requests of a suite running beside fifty others on two cores can wait seconds for a
        // connection: only the tests of the deadline itself set it short.
        config.intake.databaseTimeout = .seconds(60)
        configure(&config)
        var clientConfiguration = cluster.clientConfiguration()
        let proxy = proxied ? try await FaultProxy.start(toUnixSocket: cluster.socketPath) : nil
        if let proxy {
            clientConfiguration = proxy.clientConfiguration(to: clientConfiguration)
        }
        clientConfiguration.options.connectTimeout = .seconds(1)
        return try await run(cluster: cluster, config: config, clientConfiguration: clientConfiguration, proxy: proxy, body)
    }

    /// Another daemon on this one's cluster (the same database), as a second host would run it.
    func alongside<T: Sendable>(configure: (inout JobsConfig) -> Void = { _ in },
                                _ body: (DaemonHarness) async throws -> T) async throws -> T {
        var config = try JobsConfig(file: ConfFile(path: NSTemporaryDirectory() + "/jobs.conf", text: ""))
        config.http.port = 0
        config.intake.databaseTimeout = .seconds(60)
        configure(&config)
        var clientConfiguration = cluster.clientConfiguration()
        clientConfiguration.options.connectTimeout = .seconds(1)
        return try await Self.run(cluster: cluster, config: config, clientConfiguration: clientConfiguration, proxy: nil, body)
    }

    /// A daemon on the database at `url` (a server the test started), with tokens accepted.
    static func withDatabase<T: Sendable>(url: String, configure: (inout JobsConfig) -> Void = { _ in },
                                          _ body: (DaemonHarness) async throws -> T) async throws -> T {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        var config = try JobsConfig(file: ConfFile(path: directory.appendingPathComponent("jobs.conf").path, text: ""))
        config.http.port = 0
        config.intake.databaseTimeout = .seconds(60)
        config.intake.jwtSecret = TokenFactory.secret
        config.intake.rateLimitPerUser = 0
        config.intake.rateLimitPerAddress = 0
        config.database.url = url
        configure(&config)
        var clientConfiguration = try DatabaseLocation.clientConfiguration(url: url)
        clientConfiguration.options.connectTimeout = .seconds(5)
        // Not started: only `alongside` uses the harness's cluster, and not on this harness.
        let unused = EmbeddedPostgres(directory: directory, logger: TestDatabase.logger)
        return try await run(cluster: unused, config: config, clientConfiguration: clientConfiguration, proxy: nil, body)
    }

    /// A daemon whose pool goes through PgBouncer in transaction mode (four server connections
    /// for the daemon's twelve), in front of the shared test cluster (a database of its own); `listenDirectly` gives it a direct
    /// `database.listen_url` (through a proxy to the cluster), else it runs poll-only. `body` also
    /// gets a client straight to the cluster, for looking at the server's side, and the
    /// configuration of a client through PgBouncer, as an API server would connect.
    static func withPgBouncer<T: Sendable>(
        listenDirectly: Bool, configure: (inout JobsConfig) -> Void = { _ in },
        _ body: (DaemonHarness, _ server: PostgresClient, _ throughBouncer: PostgresClient.Configuration) async throws -> T
    ) async throws -> T {
        // A fresh database on the shared test cluster (a cluster of its own would cost an initdb
        // on a machine already busy with every other suite).
        let cluster = try await TestDatabase.cluster()
        let serverConfiguration = try await TestDatabase.makeDatabase(prefix: "bouncer")
        let database = serverConfiguration.database ?? "postgres"
        // PgBouncer speaks TCP to the cluster's unix socket through the proxy (peer
        // authentication then sees this process's user, as the daemon would be).
        let direct = try await FaultProxy.start(toUnixSocket: cluster.socketPath)
        let bouncer = try await PgBouncerTestServer.start(upstreamPort: direct.port, user: cluster.username)
        defer { bouncer.stop() }
        let directURL = "postgres://\(cluster.username)@127.0.0.1:\(direct.port)/\(database)?sslmode=disable"

        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        var config = try JobsConfig(file: ConfFile(path: directory.appendingPathComponent("jobs.conf").path, text: ""))
        config.http.port = 0
        config.intake.databaseTimeout = .seconds(60)
        config.intake.jwtSecret = TokenFactory.secret
        config.database.url = bouncer.url(user: cluster.username, database: database)
        config.database.transactionPooling = true
        config.database.listenURL = listenDirectly ? directURL : nil
        configure(&config)
        var clientConfiguration = bouncer.clientConfiguration(user: cluster.username, database: database)
        clientConfiguration.options.connectTimeout = .seconds(5)
        let result = try await TestDatabase.withClient(configuration: serverConfiguration) { server in
            try await run(cluster: cluster, config: config, clientConfiguration: clientConfiguration, proxy: nil) { harness in
                try await body(harness, server, clientConfiguration)
            }
        }
        await direct.stop()
        return result
    }

    private static func run<T: Sendable>(cluster: EmbeddedPostgres, config: JobsConfig,
                                         clientConfiguration: PostgresClient.Configuration, proxy: FaultProxy?,
                                         _ body: (DaemonHarness) async throws -> T) async throws -> T {
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var configured = Daemon(config: config, clientConfiguration: clientConfiguration,
                                metrics: PrometheusCollectorRegistry(), logger: TestDatabase.logger)
        configured.onHTTPListening = { port in portContinuation.yield(port) }
        let daemon = configured
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run() }
            var ports = portStream.makeAsyncIterator()
            guard let port = await ports.next() else { throw CancellationError() }
            let result: Result<T, any Error>
            do { result = .success(try await body(DaemonHarness(cluster: cluster, port: port, proxy: proxy))) } catch { result = .failure(error) }
            // As on SIGTERM: the HTTP server closes its connections and the workers drain.
            proxy?.heal()
            await daemon.shutdown.trigger()
            try await group.waitForAll()
            await proxy?.stop()
            return try result.get()
        }
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        let reply = try await send("GET", path)
        return (reply.status, reply.body)
    }
}

struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorField: String? { (json["error"] as? [String: Any])?["field"] as? String }
}

/// The tests' HTTP client. AsyncHTTPClient rather than URLSession: FoundationNetworking on
/// Linux deadlocks when a task awaiting a request is cancelled (seen here in a task group).
enum TestHTTP {
    /// Generous timeouts: a thousand requests queue for 64 connections on a loaded 2-core machine.
    /// Pooled connections are dropped well before the server's idle timeout (30 s) closes them.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
        timeout: .init(connect: .seconds(120), read: .seconds(120)),
        connectionPool: .init(idleTimeout: .seconds(10), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)))
}

extension DaemonHarness {
    func send(_ method: String, _ path: String, token: String? = nil, json: String? = nil,
              contentType: String = "application/json", headers: [String: String] = [:],
              timeout: Duration = .seconds(60)) async throws -> HTTPReply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = HTTPMethod(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.body = .bytes(ByteBuffer(string: json))
            request.headers.add(name: "Content-Type", value: contentType)
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await TestHTTP.client.execute(request, timeout: .init(timeout))
        let body = try await response.body.collect(upTo: 16 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return HTTPReply(status: Int(response.status.code), headers: fields, body: String(buffer: body))
    }
}

extension JobsConfig {
    /// Email to the SMTP test server, no rate limits (tests book as fast as they like).
    mutating func deliverEmail(to smtp: SMTPTestServer) {
        intake.rateLimitPerUser = 0
        intake.rateLimitPerAddress = 0
        delivery.smtp.host = smtp.host
        delivery.smtp.port = smtp.port
        delivery.smtp.security = .off
        delivery.smtp.from = "Evently <tickets@evently.example>"
        delivery.smtp.timeout = .seconds(5)
    }
}

extension DaemonHarness {
    /// A daemon that accepts tokens signed by ``TokenFactory``.
    static func withTokens<T: Sendable>(_ configure: @escaping @Sendable (inout JobsConfig) -> Void = { _ in }, proxied: Bool = false,
                                      _ body: (DaemonHarness) async throws -> T) async throws -> T {
        try await DaemonHarness.with(configure: { config in
            config.intake.jwtSecret = TokenFactory.secret
            configure(&config)
        }, proxied: proxied, body)
    }
}
