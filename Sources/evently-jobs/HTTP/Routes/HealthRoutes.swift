import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Prometheus
import Queue

/// `/healthz`, `/readyz`, `/metrics` and `/openapi.json`: what probes, scrapers and clients
/// read. The rate limits never apply to the first three.
struct HealthRoutes: Sendable {
    let client: PostgresClient
    let migrator: SchemaMigrator
    let metrics: PrometheusCollectorRegistry
    let logger: Logger
    /// How long `/readyz` waits for the database before answering 503.
    var readinessTimeout: Duration = .seconds(2)

    /// Paths probes and scrapers call, which must see the truth however busy the intake is.
    static let unlimitedPaths: Set<String> = ["/healthz", "/readyz", "/metrics"]

    /// `{"status", "reason"?}` of `/healthz` and `/readyz`.
    struct StatusBody: Encodable {
        var status: String
        var reason: String?
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        router.get("/healthz") { _, _ in
            try JSONResponse.make(StatusBody(status: "ok"))
        }
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        router.get("/readyz") { _, _ in
            try await readiness()
        }
        router.get("/metrics") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeBytes(metrics.emitToBuffer())
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: buffer))
        }
    }

    /// 200 when the database answers and holds every migration this binary knows; 503 otherwise.
    func readiness() async throws -> Response {
        let upToDate: Bool
        do {
            upToDate = try await withDeadline(readinessTimeout) {
                try await migrator.isUpToDate(on: client)
            }
        } catch {
            logger.debug("readiness check failed: \(readableDescription(of: error))")
            return try JSONResponse.make(StatusBody(status: "not_ready", reason: "database unreachable"), status: .serviceUnavailable)
        }
        if upToDate { return try JSONResponse.make(StatusBody(status: "ready")) }
        return try JSONResponse.make(StatusBody(status: "not_ready", reason: "database is not migrated"), status: .serviceUnavailable)
    }
}

private struct DeadlineExceeded: Error {}

/// Runs `operation`, throwing ``DeadlineExceeded`` if it takes longer than `limit`.
private func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw DeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw DeadlineExceeded() }
        return first
    }
}
