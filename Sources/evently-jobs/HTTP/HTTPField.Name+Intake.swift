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
    /// The SMS provider's callback signature headers (``WebhookSignature``).
    static let webhookTimestamp = Self(WebhookSignature.timestampHeader)!
    static let webhookSignature = Self(WebhookSignature.signatureHeader)!
}
