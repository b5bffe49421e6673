import AsyncHTTPClient
import BookingCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Queue

/// What the email and SMS workers share: find the notification, never send one twice, record
/// each outcome on its row.
struct DeliveryLedger: Sendable {
    let client: PostgresClient
    let logger: Logger

    var store: NotificationStore { NotificationStore(logger: logger) }

    /// The notification to send, or `nil` when there is nothing (left) to do.
    func pending(_ id: UUID) async throws -> DeliveryTarget? {
        let store = self.store
        guard let target = try await client.withConnection({ try await store.deliveryTarget(id: id, on: $0) }) else {
            throw JobControl.discard(reason: "notification \(id) no longer exists")
        }
        switch target.notification.status {
        case .queued, .failed:
            // A failed row is sent again only when an operator retries its job.
            return target
        case .sent, .delivered, .read:
            logger.info("notification already sent; not sending it again", metadata: ["notification_id": "\(id)"])
            return nil
        case .skipped:
            return nil
        }
    }

    func skip(_ id: UUID, reason: String) async throws {
        let store = self.store
        _ = try await client.withConnection { try await store.markSkipped(id: id, reason: reason, now: Date(), on: $0) }
        logger.info("notification skipped: \(reason)", metadata: ["notification_id": "\(id)"])
    }

    /// The message is out: record it even when this attempt is being cancelled (its timeout, a
    /// shutdown) or the database blinks, or a rerun would send it again.
    func sent(_ id: UUID, providerMessageID: String?) async throws {
        let store = self.store, client = self.client
        var delay = Duration.milliseconds(100)
        for attempt in 1...5 {
            do {
                try await Task {
                    _ = try await client.withConnection {
                        try await store.markSent(id: id, providerMessageID: providerMessageID, now: Date(), on: $0)
                    }
                }.value
                return
            } catch where attempt < 5 {
                logger.warning("recording a sent notification failed, retrying: \(error)", metadata: ["notification_id": "\(id)"])
                let pause = delay
                try? await Task { try await Task.sleep(for: pause) }.value
                delay *= 2
            }
        }
    }

    /// A refusal for good: the row is failed with the reason and the job is discarded.
    func failForGood(_ id: UUID, reason: String) async throws -> Never {
        let store = self.store
        _ = try await client.withConnection { try await store.markFailed(id: id, error: reason, now: Date(), on: $0) }
        throw JobControl.discard(reason: reason)
    }

    /// A failure worth retrying: the error is kept on the row (failed on the job's last attempt)
    /// and rethrown so the queue retries the job.
    func failForNow(_ id: UUID, error: any Error, context: JobContext) async throws -> Never {
        let store = self.store
        let reason = "\(error)"
        if context.attempt >= context.maxAttempts {
            _ = try await client.withConnection { try await store.markFailed(id: id, error: reason, now: Date(), on: $0) }
        } else {
            _ = try await client.withConnection { try await store.recordAttemptError(id: id, error: reason, on: $0) }
        }
        throw error
    }
}

/// `email.send`: one notification by SMTP (libesmtp), rendered from its Mustache template.
///
/// The Message-ID is derived from the notification id, so a message that does go out twice
/// (a crash after the server accepted it and before the row was marked sent) carries the same
/// id both times and can be recognised as one.
public struct EmailSendWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "email.send"
        public var notificationID: UUID
        public init(notificationID: UUID) { self.notificationID = notificationID }
        enum CodingKeys: String, CodingKey { case notificationID = "notification_id" }
    }

    let client: PostgresClient
    let settings: SMTPSettings
    let mailer: SMTPMailer
    let composer: EmailComposer

    public init(client: PostgresClient, settings: SMTPSettings) throws {
        self.client = client
        self.settings = settings
        self.mailer = SMTPMailer(settings: settings)
        self.composer = try EmailComposer()
    }

    /// Sessions are bounded by the SMTP timeout per reply; this bounds the whole attempt.
    public var timeout: Duration? { settings.timeout * 6 }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let ledger = DeliveryLedger(client: client, logger: context.logger)
        let id = payload.notificationID
        guard let target = try await ledger.pending(id) else { return }
        guard settings.isEnabled else {
            return try await ledger.skip(id, reason: "email is off: no SMTP host is configured")
        }
        guard let sender = SMTPSettings.mailbox(of: settings.from) else {
            try await ledger.failForGood(id, reason: "smtp.from is not an address: \(settings.from)")
        }
        let rendered = composer.render(target.notification)
        let domain = sender.split(separator: "@").last.map(String.init) ?? "evently.invalid"
        let messageID = "<\(id.uuidString.lowercased())@\(domain)>"
        let mail = OutgoingMail(
            sender: sender, recipient: target.email,
            message: EmailComposer.message(from: settings.from, to: target.email, subject: rendered.subject,
                                           body: rendered.body, messageID: messageID, date: Date()))
        do {
            try await mailer.send(mail)
        } catch {
            if error.isPermanent { try await ledger.failForGood(id, reason: error.description) }
            try await ledger.failForNow(id, error: error, context: context)
        }
        try await ledger.sent(id, providerMessageID: messageID)
    }
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

    public init(client: PostgresClient, settings: SMSSettings, httpClient: HTTPClient = .shared) {
        self.client = client
        self.settings = settings
        self.httpClient = httpClient
    }

    /// The request's own timeout ends a slow provider first; this bounds the database work around it.
    public var timeout: Duration? { settings.timeout + .seconds(30) }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let ledger = DeliveryLedger(client: client, logger: context.logger)
        let id = payload.notificationID
        guard let target = try await ledger.pending(id) else { return }
        guard let url = settings.url else {
            return try await ledger.skip(id, reason: "SMS is off: no provider URL is configured")
        }
        guard let phone = target.phone else {
            return try await ledger.skip(id, reason: "the user has no phone number")
        }
        let text = target.notification.content["body"] ?? target.notification.content["subject"] ?? ""
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
            response = try await httpClient.execute(request, timeout: .nanoseconds(settings.timeout.nanoseconds))
        } catch {
            try await ledger.failForNow(id, error: SMSRequestFailed(underlying: "\(error)"), context: context)
        }
        let status = Int(response.status.code)
        let retryAfter = response.headers.first(name: "Retry-After")
        // The status decides; a body that cannot be read (too long, cut off) after a 2xx must
        // not turn an accepted message into a retry.
        let reply = (try? await response.body.collect(upTo: 64 * 1024)).map { String(buffer: $0) } ?? ""
        switch status {
        case 200..<300:
            try await ledger.sent(id, providerMessageID: Self.messageID(in: reply) ?? id.uuidString.lowercased())
        case 429, 500..<600:
            let error = ProviderUnavailable(status: status, retryAfter: retryAfter.flatMap(Self.retryDelay), reply: Self.short(reply))
            try await ledger.failForNow(id, error: error, context: context)
        default:
            try await ledger.failForGood(id, reason: "SMS provider refused the message (\(status)): \(Self.short(reply))")
        }
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

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
