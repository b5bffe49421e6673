import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// Per-request state of the HTTP intake: its id, the caller's address and, once authenticated,
/// the caller.
struct IntakeContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    /// Where `GET /v1/live` hands an accepted upgrade to its WebSocket handler.
    let webSocket = WebSocketHandlerReference<IntakeContext>()
    /// Sent back as `X-Request-Id` and attached to every log line of the request.
    var requestID: String
    /// The TCP peer; `X-Forwarded-For` replaces it only when the peer is a configured proxy.
    let peerAddress: String?
    var clientAddress: String?
    var caller: Caller?
    /// The connection, so that a request that overstays (``RequestReadTimeout``) can be cut off.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        requestID = RequestID.make()
        peerAddress = source.channel.remoteAddress?.ipAddress
        clientAddress = peerAddress
    }

    /// Bodies larger than this are refused with 413 by the JSON decoding helpers.
    var maxUploadSize: Int { 64 * 1024 }

    /// The authenticated caller, or 401.
    func requireCaller() throws(APIError) -> Caller {
        guard let caller else { throw APIError(.unauthorized, "unauthorized", "a bearer token is required") }
        return caller
    }

    /// The caller if they hold one of `roles`, else 403.
    func requireRole(_ roles: Set<Caller.Role>) throws(APIError) -> Caller {
        let caller = try requireCaller()
        guard roles.contains(caller.role) else {
            throw APIError(.forbidden, "forbidden", "this needs the \(roles.map(\.rawValue).sorted().joined(separator: " or ")) role")
        }
        return caller
    }
}
