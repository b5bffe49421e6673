import HTTPTypes
import Hummingbird

/// Refuses a request whose headers together (names and values) or whose target (path and
/// query) are larger than ``InputLimits/headerBytes``: 431 with the JSON error body, before
/// authentication reads a token out of them. (The HTTP parser's own 80 KiB limit stays behind
/// this, for what cannot be parsed at all.)
struct HeaderSizeMiddleware: RouterMiddleware {
    typealias Context = IntakeContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let limit = InputLimits.headerBytes
        var total = 0
        for field in request.headers {
            total += field.name.rawName.utf8.count + field.value.utf8.count + 4
        }
        guard total <= limit else {
            throw APIError(.init(code: 431, reasonPhrase: "Request Header Fields Too Large"), "headers_too_large",
                           "the request's headers are larger than \(limit / 1024) KiB together")
        }
        guard (request.head.path?.utf8.count ?? 0) <= limit else {
            throw APIError(.init(code: 414, reasonPhrase: "URI Too Long"), "uri_too_long",
                           "the request's path and query are longer than \(limit / 1024) KiB")
        }
        return try await next(request, context)
    }
}
