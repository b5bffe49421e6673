import BookingCore
import Foundation
import Mustache

/// Renders a notification into an email from the embedded Mustache templates (one per
/// ``NotificationTemplate``: the first line is the subject, the rest after a blank line the body).
public struct EmailComposer: Sendable {
    struct Template: Sendable {
        var subject: MustacheTemplate
        var body: MustacheTemplate
    }

    let templates: [String: Template]

    public init() throws {
        var templates: [String: Template] = [:]
        for template in NotificationTemplate.allCases {
            templates[template.rawValue] = try Self.parse(Self.embeddedSource(template), name: template.rawValue)
        }
        self.templates = templates
    }

    static func embeddedSource(_ template: NotificationTemplate) -> [UInt8] {
        switch template {
        case .bookingConfirmed: PackageResources.booking_confirmed_mustache
        case .bookingCancelled: PackageResources.booking_cancelled_mustache
        case .waitlistOffer: PackageResources.waitlist_offer_mustache
        case .offerLapsed: PackageResources.offer_lapsed_mustache
        case .reminder: PackageResources.reminder_mustache
        case .eventCancelled: PackageResources.event_cancelled_mustache
        case .waitlistBooked: PackageResources.waitlist_booked_mustache
        }
    }

    struct TemplateError: Error, CustomStringConvertible {
        var name: String
        var reason: String
        var description: String { "email template \(name): \(reason)" }
    }

    static func parse(_ bytes: [UInt8], name: String) throws -> Template {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\n\n") else {
            throw TemplateError(name: name, reason: "needs a subject line, a blank line, then the body")
        }
        // Plain text: nothing is HTML-escaped.
        let pragma = "{{% CONTENT_TYPE: TEXT}}"
        do {
            return Template(subject: try MustacheTemplate(string: pragma + text[..<split.lowerBound]),
                            body: try MustacheTemplate(string: pragma + text[split.upperBound...]))
        } catch {
            throw TemplateError(name: name, reason: "\(error)")
        }
    }

    /// Subject and body of `notification`, rendered from the facts stored in its content.
    public func render(_ notification: UserNotification) -> RenderedMessage {
        var context: [String: String] = notification.content
        for key in ["starts_at", "offer_expires_at"] {
            if let text = context[key], let date = try? Date(text, strategy: .iso8601) {
                context["\(key)_text"] = Self.humanDate(date)
            }
        }
        guard let template = templates[notification.template] else {
            // A template this build does not know (a newer writer): the text rendered when the
            // row was stored is still a complete message.
            return RenderedMessage(subject: context["subject"] ?? "Evently", body: context["body"] ?? "")
        }
        let subject = template.subject.render(context).trimmingCharacters(in: .whitespacesAndNewlines)
        // A header is one line: an event name with a line break must not add headers.
        let oneLine = subject.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        return RenderedMessage(subject: oneLine, body: template.body.render(context))
    }

    static func humanDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d UTC", parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!)
    }

    /// The complete RFC 5322 message: headers (subject encoded when not ASCII), a blank line, the body.
    public static func message(from: String, to: String, subject: String, body: String, messageID: String, date: Date) -> String {
        let headers = [
            "From: \(from)",
            "To: \(to)",
            "Subject: \(encodedHeader(subject))",
            "Date: \(rfc5322Date(date))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ]
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + body
    }

    /// RFC 2047 encoded-word when the text is not plain ASCII.
    static func encodedHeader(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { !$0.isASCII }) else { return text }
        return "=?utf-8?B?\(Data(text.utf8).base64EncodedString())?="
    }

    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
