import Foundation

/// The mail server `email.send` hands messages to, from jobs.conf `[smtp]`.
public struct SMTPSettings: Sendable {
    /// `nil` turns email off.
    public var host: String?
    public var port = 25
    public var security = SMTPSecurity.opportunistic
    public var user: String?
    public var password: String?
    /// The From header and envelope sender, e.g. `Evently <tickets@evently.example>`.
    public var from = "Evently <no-reply@evently.invalid>"
    /// Longest wait for any one server reply (libesmtp's defaults are minutes).
    public var timeout: Duration = .seconds(30)
    /// Trust anchors for STARTTLS/TLS (PEM file); `nil` uses the system's.
    public var caFile: String?
    /// Sessions open at once; messages that arrive while all are busy wait for the next one.
    public var sessions = 2
    /// The most messages one session carries.
    public var messagesPerSession = 10

    /// The mail thread pool's size: no more sessions than this can run at once.
    public static let mostSessions = 16
    /// Each message a session may carry widens the sending window a crashed attempt's rescue
    /// waits out by six replies' timeouts: 50 make it over 2.5 hours at the default timeout.
    public static let mostMessagesPerSession = 50

    public init() {}

    public var isEnabled: Bool { host != nil }
}

extension SMTPSettings {
    /// The bare address inside "Name <addr@host>" or "addr@host"; `nil` when it is not one.
    public static func mailbox(of address: String) -> String? {
        var text = address.trimmingCharacters(in: .whitespaces)
        if let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close {
            text = String(text[text.index(after: open)..<close])
        }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !text.contains(where: \.isWhitespace) else {
            return nil
        }
        return text
    }
}
