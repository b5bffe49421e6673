import BookingCore
import Foundation

/// Builds the RFC 5322 message of a notification from the text stored on its row (rendered once
/// by ``NotificationRenderer`` when the row was created, so a template this build does not know
/// still mails its stored subject and body).
public enum EmailComposer {
    /// The email of `notification`: its stored subject and email body.
    public static func message(for notification: UserNotification, from: String, to: String, messageID: String,
                               date: Date) -> String {
        let text = RenderedMessage(content: notification.content)
        return message(from: from, to: to, subject: text.subject, body: text.emailBody, messageID: messageID, date: date)
    }

    /// The complete RFC 5322 message: headers (subject encoded when not ASCII), a blank line, the body.
    public static func message(from: String, to: String, subject: String, body: String, messageID: String, date: Date) -> String {
        let headers = [
            "From: \(from)",
            "To: \(to)",
            "Subject: \(encodedHeader(oneLine(subject)))",
            "Date: \(rfc5322Date(date))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + body
    }

    /// A header is one line: stored text with a line break must not add headers.
    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
    }

    /// RFC 2047 encoded-word when the text is not plain ASCII.
    static func encodedHeader(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { !$0.isASCII }) else { return text }
        return "=?utf-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    /// `Thu, 03 Dec 2026 18:30:00 +0000`, by hand: a DateFormatter per message cost more CPU than
    /// the rest of the message (measured with perf in `bench-email`), and one shared formatter
    /// is not safe across threads.
    static func rfc5322Date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(twoDigits(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(twoDigits(parts.tm_hour)):\(twoDigits(parts.tm_min)):\(twoDigits(parts.tm_sec)) +0000"
    }
}
