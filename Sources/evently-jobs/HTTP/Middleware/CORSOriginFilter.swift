import HTTPTypes
import Hummingbird

/// Refuses cross-origin requests from origins not in the configured list (CORSMiddleware
/// echoes whatever origin asks; this keeps the list the only source of truth).
struct CORSOriginFilter: RouterMiddleware {
    typealias Context = IntakeContext
    let allowed: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let origin = request.headers[.origin], !allowed.contains(origin) {
            throw APIError(.forbidden, "origin_not_allowed", "origin \(origin) is not allowed")
        }
        return try await next(request, context)
    }
}
