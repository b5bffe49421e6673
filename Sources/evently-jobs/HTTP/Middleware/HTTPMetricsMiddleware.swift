import HTTPTypes
import Hummingbird
import Metrics
import Synchronization

/// Outermost middleware: `evently_http_requests_total{route, method, status}` and
/// `evently_http_request_duration_seconds{route, method}` (a histogram, up to the response head).
///
/// Label values are bounded: `route` is the matched route's template as Hummingbird names it
/// (`/v1/jobs/{id}`, never the raw path), `unmatched` when no route matched; `method` is one of
/// the standard methods or `other`; `status` is the number. (Hummingbird's own
/// `MetricsMiddleware` names its series `hb.requests` and `http.server.request.duration`, with
/// the status on the histogram, and only through the global `MetricsSystem`.)
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = IntakeContext
    let handles: Handles

    init(factory: any MetricsFactory) {
        handles = Handles(factory: factory)
    }

    static let unmatched = "unmatched"
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let method = Self.methods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        do {
            let response = try await next(request, context)
            record(route: Self.route(context), method: method, status: response.status.code, since: started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(route: Self.route(context), method: method, status: status, since: started)
            throw error
        }
    }

    /// The matched route's template; Hummingbird names a request no route took `NotFound`.
    static func route(_ context: Context) -> String {
        guard let path = context.endpointPath, path.hasPrefix("/") else { return unmatched }
        return path
    }

    private func record(route: String, method: String, status: Int, since started: ContinuousClock.Instant) {
        let (counter, timer) = handles.get(route: route, method: method, status: status)
        counter.increment()
        let elapsed = ContinuousClock.now - started
        timer.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }

    /// One counter per (route, method, status) and one timer per (route, method), made once.
    final class Handles: Sendable {
        private let factory: any MetricsFactory
        private let counters = Mutex<[String: Counter]>([:])
        private let timers = Mutex<[String: Metrics.Timer]>([:])

        init(factory: any MetricsFactory) {
            self.factory = factory
        }

        func get(route: String, method: String, status: Int) -> (Counter, Metrics.Timer) {
            let counter = counters.withLock { counters in
                let key = "\(route) \(method) \(status)"
                if let existing = counters[key] { return existing }
                let made = Counter(label: "evently_http_requests_total",
                                   dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory)
                counters[key] = made
                return made
            }
            let timer = timers.withLock { timers in
                let key = "\(route) \(method)"
                if let existing = timers[key] { return existing }
                let made = Metrics.Timer(label: "evently_http_request_duration_seconds",
                                         dimensions: [("route", route), ("method", method)], factory: factory)
                timers[key] = made
                return made
            }
            return (counter, timer)
        }
    }
}
