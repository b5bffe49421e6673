import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads a request's whole body within `limit` of its head, or closes the connection: a body
/// trickled a byte at a time would otherwise hold its connection and task for as long as the
/// client likes, since every piece resets the server's idle timer (`http.idle_timeout`, which
/// covers the wait for a complete head). Bodies are at most `maxUploadSize` (64 KiB), so
/// reading them up front costs little.
struct RequestReadTimeout: RouterMiddleware {
    typealias Context = IntakeContext
    let limit: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.hasBody(request) else { return try await next(request, context) }
        var request = request
        let body = request.body, maximum = context.maxUploadSize, limit = self.limit
        let buffer: ByteBuffer? = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do {
                    return try await body.collect(upTo: maximum)
                } catch is NIOTooManyBytesError {
                    throw HTTPError(.contentTooLarge)
                }
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let buffer else {
            // Stop reading: the server writes the 408, finds no more input and closes the
            // connection, rather than draining the rest of the body before a next request.
            context.channel.close(mode: .input, promise: nil)
            throw APIError(.requestTimeout, "request_timeout", "the request body did not arrive within \(limit)")
        }
        request.body = .init(buffer: buffer)
        return try await next(request, context)
    }

    private static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return length != "0" }
        return request.headers[.transferEncoding] != nil
    }
}
