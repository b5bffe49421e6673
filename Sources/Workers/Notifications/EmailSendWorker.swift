import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// `email.send`: one notification by SMTP (libesmtp), with the subject and email body stored on its row.
///
/// One session per notification at a time (see ``DeliveryLedger``). The Message-ID is derived
/// from the notification id, so a message that does go out twice (a crash after the server
/// accepted it and before the row was marked sent) carries the same id both times and can be
/// recognised as one.
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
    let metrics: DeliveryMetrics
    let sentMarks: SentMarks
    let sendingMarks: SendingMarks

    public init(client: PostgresClient, settings: SMTPSettings, metrics: DeliveryMetrics = DeliveryMetrics(channel: "email")) {
        self.client = client
        self.settings = settings
        self.mailer = SMTPMailer(settings: settings)
        self.metrics = metrics
        self.sentMarks = SentMarks(client: client, logger: Logger(label: "evently-jobs.email"))
        self.sendingMarks = SendingMarks(client: client, window: settings.sendingWindow.total, logger: Logger(label: "evently-jobs.email"))
    }

    /// An attempt lasts as long as its mark may: the session cannot be stopped once it started,
    /// so a shorter timeout would only report a failure while the message may still go out.
    public var timeout: Duration? { settings.sendingWindow.total }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let ledger = DeliveryLedger(client: client, logger: context.logger, window: settings.sendingWindow, metrics: metrics,
                                    sentMarks: sentMarks, sendingMarks: sendingMarks)
        let id = payload.notificationID
        guard let (mark, target) = try await ledger.begin(id, context: context) else { return }
        guard settings.isEnabled else {
            return try await ledger.skip(mark, reason: "email is off: no SMTP host is configured")
        }
        guard let sender = SMTPSettings.mailbox(of: settings.from) else {
            try await ledger.failForGood(mark, reason: "smtp.from is not an address: \(settings.from)")
        }
        if let problem = ContactAddress.emailProblem(target.email) {
            try await ledger.failForGood(mark, reason: "the recipient address \(problem); not sending")
        }
        let domain = sender.split(separator: "@").last.map(String.init) ?? "evently.invalid"
        let messageID = "<\(id.uuidString.lowercased())@\(domain)>"
        let mail = OutgoingMail(
            sender: sender, recipient: target.email,
            message: EmailComposer.message(for: target.notification, from: settings.from, to: target.email,
                                           messageID: messageID, date: Date()))
        do {
            try await mailer.send(mail, startBy: mark.startBy)
        } catch {
            if error.isPermanent { try await ledger.failForGood(mark, reason: error.description) }
            try await ledger.failForNow(mark, error: error, context: context)
        }
        try await ledger.sent(mark, providerMessageID: messageID)
    }
}
