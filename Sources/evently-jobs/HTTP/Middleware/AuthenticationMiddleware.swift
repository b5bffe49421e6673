import HTTPTypes
import Hummingbird
import Logging

/// Takes the per-address rate limit first (so failed authentications count too: a client
/// guessing tokens is throttled like any other), then authenticates when a token is present (a
/// bad one is a 401 at once), then takes the per-user limit. Routes decide whether they need a
/// caller.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = IntakeContext
    /// `nil` when no secret is configured: every token is refused.
    let authenticator: Authenticator?
    let perUser: RateLimiter
    let perAddress: RateLimiter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let limited = !HealthRoutes.unlimitedPaths.contains(request.uri.path)
        if limited, let address = context.clientAddress {
            // IPv6 clients count per /64 (IPAddress.rateLimitKey).
            let key = IPAddress(address)?.rateLimitKey ?? address
            if let wait = perAddress.take("ip:\(key)") { throw Self.tooMany(wait, "address") }
        }
        if let header = request.headers[.authorization] {
            guard let authenticator else {
                throw APIError(.unauthorized, "auth_not_configured", "this server has no auth.jwt_secret configured")
            }
            let caller = try await authenticator.caller(fromAuthorization: header)
            context.caller = caller
            context.logger[metadataKey: "user_id"] = "\(caller.userID.lowercased)"
        }
        if limited, let caller = context.caller, let wait = perUser.take("user:\(caller.userID.lowercased)") {
            throw Self.tooMany(wait, "user")
        }
        return try await next(request, context)
    }

    static func tooMany(_ seconds: Int, _ scope: String) -> APIError {
        APIError(.tooManyRequests, "rate_limited", "too many requests from this \(scope); retry in \(seconds) s",
                 headers: [.retryAfter: "\(seconds)"])
    }
}
