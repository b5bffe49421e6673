import Hummingbird
import Logging
import NIOCore

/// Per-request state of the HTTP intake: its id, the caller's address and, once authenticated,
/// the caller.
struct IntakeContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Sent back as `X-Request-Id` and attached to every log line of the request.
    var requestID: String
    /// The TCP peer; `X-Forwarded-For` replaces it only when the peer is a configured proxy.
    let peerAddress: String?
    var clientAddress: String?
    var caller: Caller?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
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

/// Who is calling, from a verified token.
struct Caller: Sendable, Equatable {
    enum Role: String, Sendable, Codable {
        case user, admin
        /// May enqueue and steer jobs, not touch bookings of others.
        case `operator`
    }

    var userID: UUIDString
    var email: String
    var role: Role
    var phone: String?

    typealias UUIDString = String
}

enum RequestID {
    /// 16 hex digits: unique enough to find a request in the logs.
    static func make() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16).leftPadded(to: 16)
    }
}

extension String {
    func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
