import Foundation

/// How notifications leave the building, from jobs.conf `[smtp]`, `[sms]` and `[notifications]`.
/// A channel with no server configured is off: its notifications are marked skipped, not retried.
public struct DeliverySettings: Sendable {
    public var smtp = SMTPSettings()
    public var sms = SMSSettings()
    /// Before each event, every confirmed booking gets one reminder per offset.
    public var reminderOffsets: [Duration] = [.seconds(86_400), .seconds(3_600)]
    /// Notifications older than this are deleted by `notifications.prune`.
    public var notificationRetention: Duration = .seconds(90 * 86_400)

    public init() {}
}

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

    public init() {}

    public var isEnabled: Bool { host != nil }
}

/// How the SMTP connection is protected. Raw values are what jobs.conf and `EVENTLY_SMTP_TLS` take.
public enum SMTPSecurity: String, Sendable, CaseIterable {
    /// Plain SMTP, never STARTTLS (loopback relays, tests).
    case off
    /// STARTTLS when the server offers it, plain otherwise.
    case opportunistic
    /// STARTTLS or no session.
    case starttls
    /// TLS from the first byte (SMTPS, usually port 465).
    case tls
}

public struct SMSSettings: Sendable {
    /// The provider's endpoint; `nil` turns SMS off.
    public var url: String?
    /// The sender number or name passed as `From`.
    public var from: String?
    /// HMAC-SHA256 key for outgoing requests and incoming status callbacks.
    public var secret: String?
    public var timeout: Duration = .seconds(10)

    public init() {}

    public var isEnabled: Bool { url != nil }
}
