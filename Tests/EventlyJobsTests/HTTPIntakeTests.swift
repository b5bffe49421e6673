import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Prometheus
import Queue
import Synchronization
import Testing
@testable import evently_jobs

/// Runs a daemon on its own embedded cluster with an ephemeral HTTP port.
struct DaemonHarness {
    let cluster: EmbeddedPostgres
    let port: Int

    static func with<T: Sendable>(configure: (inout JobsConfig) -> Void = { _ in },
                                  _ body: (DaemonHarness) async throws -> T) async throws -> T {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-daemon-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cluster = EmbeddedPostgres(directory: directory, settings: ["fsync": "off"], logger: TestDatabase.logger)
        try cluster.start()
        defer { try? cluster.stop() }

        var config = try JobsConfig(file: ConfFile(path: directory.appendingPathComponent("jobs.conf").path, text: ""))
        config.http.port = 0
        configure(&config)
        var clientConfiguration = cluster.clientConfiguration()
        clientConfiguration.options.connectTimeout = .seconds(1)
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
            do { result = .success(try await body(DaemonHarness(cluster: cluster, port: port))) } catch { result = .failure(error) }
            // As on SIGTERM: the HTTP server closes its connections and the workers drain.
            await daemon.shutdown.trigger()
            try await group.waitForAll()
            return try result.get()
        }
    }

    func get(_ path: String) async throws -> (status: Int, body: String) {
        let reply = try await send("GET", path)
        return (reply.status, reply.body)
    }
}

@Suite(.serialized) struct HTTPIntakeTests {
    @Test func healthAndMetricsAnswer() async throws {
        try await DaemonHarness.with { daemon in
            let health = try await daemon.get("/healthz")
            #expect(health.status == 200)
            #expect(health.body.contains("\"ok\""))
            let metrics = try await daemon.get("/metrics")
            #expect(metrics.status == 200)
        }
    }

    @Test func readinessFollowsTheDatabase() async throws {
        try await DaemonHarness.with { daemon in
            #expect(try await daemon.get("/readyz").status == 200)

            try daemon.cluster.stop()
            let down = try await daemon.get("/readyz")
            #expect(down.status == 503)
            #expect(down.body.contains("database unreachable"))

            try daemon.cluster.start()
            var status = 0
            for _ in 0..<50 where status != 200 {
                status = try await daemon.get("/readyz").status
                if status != 200 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(status == 200, "ready again once the database is back")
        }
    }
}
