/// The SMS provider `sms.send` posts to, from jobs.conf `[sms]`.
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
