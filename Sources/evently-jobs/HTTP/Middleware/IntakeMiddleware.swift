import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Queue

/// Outermost middleware but for the metrics: request ids, client address, and every failure as
/// a JSON error.
///
/// Handlers throw ``APIError`` for what the caller did wrong. Hummingbird's own errors (no
/// route, body too large) are re-worded into the same shape; anything else is our fault and
/// becomes a 500 that names the request id, with the details only in the log.
struct IntakeMiddleware: RouterMiddleware {
    typealias Context = IntakeContext
    /// Peers whose `X-Forwarded-For` is believed.
    let trustedProxies: [AddressRange]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let incoming = request.headers[.requestID], incoming.count <= 64,
           incoming.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
            context.requestID = incoming
        }
        context.logger[metadataKey: "request_id"] = "\(context.requestID)"
        if let peer = context.peerAddress.flatMap(IPAddress.init), trustedProxies.contains(where: { $0.contains(peer) }),
           let forwarded = Self.forwardedClient(request.headers[values: .xForwardedFor], trustedProxies) {
            context.clientAddress = forwarded
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = try error.response(from: request, context: context)
        } catch let error as HTTPError {
            response = try Self.translate(error).response(from: request, context: context)
        } catch let error as DeadlineExceeded {
            // The database did not answer in time (a black-holed network, a stalled server):
            // the work was abandoned, not undone, so the outcome is unknown.
            context.logger.warning("request gave up waiting for the database: \(error)")
            response = try APIError(.serviceUnavailable, "database_timeout",
                                    "the database did not answer within \(error.limit); the request may or may not have taken effect: retry it (a booking with the same Idempotency-Key books once)",
                                    headers: [.retryAfter: "1"])
                .response(from: request, context: context)
        } catch where DatabaseUnavailable.matches(error) {
            // The database is restarting or unreachable: nothing was committed; try again.
            context.logger.warning("request failed, database unavailable: \(readableDescription(of: error))")
            response = try APIError(.serviceUnavailable, "database_unavailable",
                                    "the database is unavailable right now; retry shortly", headers: [.retryAfter: "1"])
                .response(from: request, context: context)
        } catch {
            context.logger.error("request failed: \(readableDescription(of: error))")
            response = try APIError(.internalServerError, "internal_error",
                                    "something went wrong on our side; quote request id \(context.requestID)")
                .response(from: request, context: context)
        }
        response.headers[.requestID] = context.requestID
        return response
    }

    /// The client a chain of trusted proxies reports: the right-most `X-Forwarded-For` entry
    /// that is not itself a trusted proxy (each proxy appends the peer it saw; entries left of
    /// the first untrusted one could be written by the client). `nil` when the header holds
    /// no address.
    static func forwardedClient(_ headers: [String], _ trusted: [AddressRange]) -> String? {
        let hops = headers.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard let address = IPAddress(hop) else { return nil }
            if !trusted.contains(where: { $0.contains(address) }) { return address.description }
        }
        return hops.first.flatMap(IPAddress.init)?.description
    }

    static func translate(_ error: HTTPError) -> APIError {
        switch error.status {
        case .notFound: return APIError(.notFound, "not_found", "no such route")
        case .contentTooLarge: return APIError(.contentTooLarge, "body_too_large", "the request body is too large")
        case .methodNotAllowed: return APIError(.methodNotAllowed, "method_not_allowed", "method not allowed here")
        default:
            return APIError(error.status, "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
        }
    }
}
