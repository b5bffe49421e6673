import Queue
import BookingCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import Workers

/// `POST /v1/webhooks/sms-status`: the SMS provider's delivery reports.
///
/// No bearer token: the provider proves itself with the same HMAC-SHA256 signature we put on
/// our requests (``WebhookSignature``, keyed by `sms.secret`), over the raw body and a timestamp
/// at most five minutes old; anything else is a 403. Reports only move a notification forward:
/// `delivered` and `failed`/`undelivered` apply to a sent notification, so a late or repeated
/// callback never takes a delivered one back. A report for a message id we do not (yet) know is
/// a 404, so the provider retries it.
struct SMSWebhookRoutes: Sendable {
    let client: PostgresClient
    /// How long one report's database work may take (`http.database_timeout`).
    let databaseTimeout: Duration
    let settings: SMSSettings
    let logger: Logger

    /// Status words of common providers, by what they mean for us.
    static let deliveredStatuses: Set<String> = ["delivered"]
    static let failedStatuses: Set<String> = ["failed", "undelivered", "rejected", "expired"]
    static let progressStatuses: Set<String> = ["accepted", "queued", "sending", "sent", "scheduled"]

    func add(to router: Router<IntakeContext>) {
        router.post("/v1/webhooks/sms-status") { request, context in
            try await statusCallback(request, context: context)
        }
    }

    func statusCallback(_ request: Request, context: IntakeContext) async throws -> Response {
        guard let secret = settings.secret, !secret.isEmpty else {
            throw APIError(.forbidden, "webhook_not_configured", "no sms.secret is configured to check callbacks with")
        }
        var body = request.body
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the callback body is larger than \(context.maxUploadSize / 1024) KiB")
        }
        let bytes = Array(buffer.readableBytesView)
        let timestamp = request.headers[.webhookTimestamp] ?? ""
        let signature = request.headers[.webhookSignature] ?? ""
        guard WebhookSignature(secret: secret).isValid(signature: signature, timestamp: timestamp, body: bytes) else {
            throw APIError(.forbidden, "invalid_signature",
                           "the callback's \(WebhookSignature.signatureHeader) does not match its body and timestamp")
        }

        let fields = try Self.fields(bytes, contentType: request.headers[.contentType] ?? "")
        guard let messageID = ["MessageSid", "MessageId", "message_id", "id"].lazy.compactMap({ fields[$0] }).first(where: { !$0.isEmpty })
        else { throw APIError.badRequest("the callback names no message (MessageSid or message_id)", field: "message_id") }
        guard let rawStatus = ["MessageStatus", "status"].lazy.compactMap({ fields[$0] }).first else {
            throw APIError.badRequest("the callback has no status (MessageStatus or status)", field: "status")
        }
        try InputLimits.checkText(messageID, field: "message_id", maxLength: InputLimits.providerFieldMaxLength)
        try InputLimits.checkText(rawStatus, field: "status", maxLength: InputLimits.providerFieldMaxLength)
        if let code = fields["ErrorCode"] {
            try InputLimits.checkText(code, field: "ErrorCode", maxLength: InputLimits.providerFieldMaxLength)
        }
        let status = rawStatus.lowercased()
        let now = Date()
        let store = NotificationStore(logger: context.logger)
        let updated: Bool
        if Self.deliveredStatuses.contains(status) {
            updated = try await client.withOpenConnection(within: databaseTimeout) { try await store.markDelivered(providerMessageID: messageID, now: now, on: $0) }
        } else if Self.failedStatuses.contains(status) {
            let reason = "provider reported \(status)" + (fields["ErrorCode"].map { " (error \($0))" } ?? "")
            updated = try await client.withOpenConnection(within: databaseTimeout) {
                try await store.markUndelivered(providerMessageID: messageID, error: reason, now: now, on: $0)
            }
        } else if Self.progressStatuses.contains(status) {
            updated = false
        } else {
            throw APIError.badRequest("unknown status '\(rawStatus)'", field: "status")
        }
        if !updated, try await !client.withOpenConnection(within: databaseTimeout, { try await store.knowsProviderMessage(messageID, on: $0) }) {
            // A report can outrun our own record of the send (the provider answered, the row is
            // not marked yet): a 404 makes the provider try again later instead of losing it.
            throw APIError(.notFound, "unknown_message", "no notification has provider message id '\(messageID)' (yet)")
        }
        return try JSONResponse.make(CallbackResult(messageID: messageID, status: status, updated: updated))
    }

    struct CallbackResult: Encodable {
        var messageID: String
        var status: String
        var updated: Bool
        enum CodingKeys: String, CodingKey {
            case messageID = "message_id"
            case status, updated
        }
    }

    /// Form-encoded (as most providers post) or a JSON object of strings.
    static func fields(_ bytes: [UInt8], contentType: String) throws -> [String: String] {
        let text = String(decoding: bytes, as: UTF8.self)
        if contentType.lowercased().hasPrefix("application/json") {
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
                throw APIError(.badRequest, "malformed_json", "the body must be a JSON object")
            }
            return object.compactMapValues { $0 as? String }
        }
        guard contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type",
                           "send the callback as application/x-www-form-urlencoded or application/json")
        }
        return FormEncoding.decode(text)
    }
}
