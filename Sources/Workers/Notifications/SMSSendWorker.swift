import AsyncHTTPClient
import BookingCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Queue

/// `sms.send`: one notification as a form POST to the SMS provider, signed (see
/// ``WebhookSignature``) and carrying the notification id as `Idempotency-Key`, so a provider
/// that honours the key sends a re-run's message once.
public struct SMSSendWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "sms.send"
        public var notificationID: UUID
        public init(notificationID: UUID) { self.notificationID = notificationID }
        enum CodingKeys: String, CodingKey { case notificationID = "notification_id" }
    }

    /// A 429 or 5xx: try again, when the provider says if it says.
    struct ProviderUnavailable: RetryAfterHinting, CustomStringConvertible {
        var status: Int
        var retryAfter: Duration?
        var reply: String
        var description: String { "SMS provider answered \(status): \(reply)" }
    }

    let client: PostgresClient
    let settings: SMSSettings
    let httpClient: HTTPClient
    let metrics: DeliveryMetrics
    let sentMarks: SentMarks
    let sendingMarks: SendingMarks

    public init(client: PostgresClient, settings: SMSSettings, httpClient: HTTPClient = .shared,
                metrics: DeliveryMetrics = DeliveryMetrics(channel: "sms")) {
        self.client = client
        self.settings = settings
        self.httpClient = httpClient
        self.metrics = metrics
        self.sentMarks = SentMarks(client: client, logger: Logger(label: "evently-jobs.sms"))
        self.sendingMarks = SendingMarks(client: client, window: settings.sendingWindow.total, logger: Logger(label: "evently-jobs.sms"))
    }

    /// The request's own timeout ends a slow provider first; this bounds the database work
    /// around it, recording the outcome for as long as the mark allows.
    public var timeout: Duration? { settings.sendingWindow.total }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let ledger = DeliveryLedger(client: client, logger: context.logger, window: settings.sendingWindow, metrics: metrics,
                                    sentMarks: sentMarks, sendingMarks: sendingMarks)
        let id = payload.notificationID
        guard let (mark, target) = try await ledger.begin(id, context: context) else { return }
        guard let url = settings.url else {
            return try await ledger.skip(mark, reason: "SMS is off: no provider URL is configured")
        }
        guard let phone = target.phone else {
            return try await ledger.skip(mark, reason: DeliveryReport.noPhoneNumber)
        }
        let stored = RenderedMessage(content: target.notification.content)
        let text = stored.body.isEmpty ? stored.subject : stored.body
        let body = FormEncoding.encode([("To", phone), ("From", settings.from ?? ""), ("Body", text)])
        let timestamp = Int(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Idempotency-Key", value: id.uuidString.lowercased())
        request.headers.add(name: WebhookSignature.timestampHeader, value: "\(timestamp)")
        request.headers.add(name: WebhookSignature.signatureHeader,
                            value: WebhookSignature(secret: settings.secret ?? "").sign(timestamp: timestamp, body: Array(body.utf8)))
        request.body = .bytes(ByteBuffer(string: body))

        let response: HTTPClientResponse
        do {
            guard ContinuousClock.now <= mark.startBy else { throw SMSNotStarted() }
            response = try await httpClient.execute(request, timeout: .nanoseconds(settings.timeout.nanoseconds))
        } catch {
            try await ledger.failForNow(mark, error: SMSRequestFailed(underlying: "\(error)"), context: context)
        }
        let status = Int(response.status.code)
        let retryAfter = response.headers.first(name: "Retry-After")
        // The status decides; a body that cannot be read (too long, cut off) after a 2xx must
        // not turn an accepted message into a retry.
        let reply = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
        switch status {
        case 200..<300:
            try await ledger.sent(mark, providerMessageID: Self.messageID(in: reply) ?? id.uuidString.lowercased())
        case 429, 500..<600:
            let error = ProviderUnavailable(status: status, retryAfter: retryAfter.flatMap(Self.retryDelay), reply: Self.short(reply))
            try await ledger.failForNow(mark, error: error, context: context)
        default:
            try await ledger.failForGood(mark, reason: "SMS provider refused the message (\(status)): \(Self.short(reply))")
        }
    }

    /// Too long since the mark (a stalled database between the mark and here): the request could
    /// outlast the window, so it is not made.
    struct SMSNotStarted: Error, CustomStringConvertible {
        var description: String { "not started: too late to send within the sending window" }
    }

    struct SMSRequestFailed: Error, CustomStringConvertible {
        var underlying: String
        var description: String { "SMS provider unreachable: \(underlying)" }
    }

    /// The provider's id for the message in a JSON reply (`sid`, `id` or `message_id`).
    static func messageID(in reply: String) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(reply.utf8))) as? [String: Any] else { return nil }
        for key in ["sid", "message_id", "messageId", "id"] {
            if let text = object[key] as? String, !text.isEmpty { return text }
            if let number = object[key] as? Int { return "\(number)" }
        }
        return nil
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func retryDelay(_ header: String) -> Duration? {
        let text = header.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text), seconds >= 0 { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return .seconds(max(0, Int(date.timeIntervalSinceNow.rounded(.up))))
    }

    static func short(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count > 300 ? String(trimmed.prefix(300)) + "…" : trimmed
    }
}
