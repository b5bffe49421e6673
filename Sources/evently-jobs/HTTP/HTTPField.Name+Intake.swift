import HTTPTypes
import Workers

/// The header names the intake reads or writes beyond HTTPTypes' own. Each is a literal token,
/// so the initialiser cannot fail.
extension HTTPField.Name {
    static let requestID = Self("X-Request-Id")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let idempotencyKey = Self("Idempotency-Key")!
    /// Set on a booking answer that replays the first result of an Idempotency-Key.
    static let idempotentReplayed = Self("Idempotent-Replayed")!
    /// The next page of a list (``Page``), beside its `Link: <...>; rel="next"`.
    static let nextCursor = Self("X-Next-Cursor")!
    static let link = Self("Link")!
    static let referrerPolicy = Self("Referrer-Policy")!
    /// The SMS provider's callback signature headers (``WebhookSignature``).
    static let webhookTimestamp = Self(WebhookSignature.timestampHeader)!
    static let webhookSignature = Self(WebhookSignature.signatureHeader)!
}
