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
    /// `/readyz` answers from the last check for this long, so probes (or anyone else) asking
    /// as often as they like cost at most one database round trip per interval.
    var readinessCacheInterval: Duration = .seconds(1)
    let readinessCache = ReadinessCache()

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
            let state = await readinessCache.current(maxAge: readinessCacheInterval) { await checkReadiness() }
            switch state {
            case .ready: return try JSONResponse.make(StatusBody(status: "ready"))
            case .notReady(let reason):
                return try JSONResponse.make(StatusBody(status: "not_ready", reason: reason), status: .serviceUnavailable)
            }
        }
        router.get("/metrics") { _, _ in
            var buffer = ByteBuffer()
            buffer.writeBytes(metrics.emitToBuffer())
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: buffer))
        }
    }

    /// Whether the database answers within ``readinessTimeout`` and holds every migration
    /// this binary knows.
    func checkReadiness() async -> ReadinessCache.State {
        let upToDate: Bool
        do {
            upToDate = try await withDeadline(readinessTimeout) {
                try await migrator.isUpToDate(on: client)
            }
        } catch {
            logger.debug("readiness check failed: \(readableDescription(of: error))")
            return .notReady("database unreachable")
        }
        return upToDate ? .ready : .notReady("database is not migrated")
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
