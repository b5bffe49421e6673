import BookingCore
import Foundation
import Testing

/// What a user is told about a delivery: stable words, never the technical error.
@Suite(.timeLimit(.minutes(5))) struct DeliveryReportTests {
    static func row(_ type: NotificationChannel, _ status: NotificationStatus, error: String? = nil) -> UserNotification {
        UserNotification(id: UUID(), userID: UUID(), type: type, template: "booking_confirmed", content: [:], channels: [type],
                         status: status, eventID: nil, bookingID: nil, providerMessageID: nil, lastError: error,
                         dedupeKey: nil, createdAt: Date(), sentAt: nil, deliveredAt: nil, failedAt: nil, readAt: nil, skippedAt: nil)
    }

    @Test(arguments: [
        (row(.email, .queued), "pending", nil),
        (row(.email, .queued, error: "SMTP connection failed: smtp.internal:587 TLS handshake"), "retrying",
         "Delivery of this email is delayed; we will keep trying."),
        (row(.email, .failed, error: "SMTP 535 (permanent): authentication as evently was refused"), "failed",
         "We could not deliver this email to your address."),
        (row(.sms, .failed, error: "SMS provider refused the message (400): ..."), "failed",
         "We could not deliver this text message to your phone number."),
        (row(.sms, .skipped, error: DeliveryReport.noPhoneNumber), "not_sent", "No phone number is on file for your account."),
        (row(.email, .skipped, error: "email is off: no SMTP host is configured"), "not_sent",
         "This channel is not available at the moment."),
        (row(.inApp, .delivered), "delivered", nil),
        (row(.inApp, .read), "read", nil),
        (row(.sms, .sent), "sent", nil),
    ] as [(UserNotification, String, String?)])
    func reportsSayWhatHappenedInPlainWords(row: UserNotification, status: String, reason: String?) {
        let report = DeliveryReport(row)
        #expect(report.status == status)
        #expect(report.reason == reason)
    }
}
