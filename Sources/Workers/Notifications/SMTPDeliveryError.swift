/// Why a message did not go out, sorted by what to do about it.
public enum SMTPDeliveryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No session: the server is down, unreachable, too slow, or TLS could not start. Try later.
    case connection(String)
    /// A 4xx reply: the server asks us to try later.
    case temporary(code: Int, reply: String)
    /// A 5xx reply: the recipient (or our sender, or our credentials) is refused for good.
    case permanent(code: Int, reply: String)

    public var isPermanent: Bool {
        if case .permanent = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .connection(let message): "SMTP connection failed: \(message)"
        case .temporary(let code, let reply): "SMTP \(code) (temporary): \(reply)"
        case .permanent(let code, let reply): "SMTP \(code) (permanent): \(reply)"
        }
    }
}
