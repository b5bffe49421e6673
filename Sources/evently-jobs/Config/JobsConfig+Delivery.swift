import Foundation
import Workers

extension ConfReader {
    /// `[smtp]`, `[sms]` and `[notifications]`: how notifications are delivered.
    mutating func deliverySettings() throws(ConfigError) -> DeliverySettings {
        var delivery = DeliverySettings()
        var smtp = delivery.smtp
        smtp.host = try string("smtp", "host").flatMap { $0.isEmpty ? nil : $0 }
        smtp.port = try integer("smtp", "port", in: 1...65535) ?? smtp.port
        smtp.security = try string("smtp", "tls", JobsConfig.smtpSecurity) ?? smtp.security
        smtp.user = try string("smtp", "user").flatMap { $0.isEmpty ? nil : $0 }
        smtp.password = try string("smtp", "password")
        smtp.from = try string("smtp", "from", JobsConfig.mailbox) ?? smtp.from
        smtp.timeout = try duration("smtp", "timeout") ?? smtp.timeout
        smtp.caFile = try string("smtp", "ca_file")
        smtp.sessions = try integer("smtp", "sessions", in: 1...SMTPSettings.mostSessions) ?? smtp.sessions
        smtp.messagesPerSession = try integer("smtp", "messages_per_session", in: 1...SMTPSettings.mostMessagesPerSession) ?? smtp.messagesPerSession
        delivery.smtp = smtp

        var sms = delivery.sms
        sms.url = try string("sms", "url") { text throws(ConfValue.ParseError) -> String? in
            if text.isEmpty { return nil }
            return try JobsConfig.httpURL(text)
        } ?? nil
        sms.from = try string("sms", "from")
        sms.secret = try string("sms", "secret")
        sms.timeout = try duration("sms", "timeout") ?? sms.timeout
        delivery.sms = sms

        if let offsets = try string("notifications", "reminder_offsets") {
            var parsed: [Duration] = []
            for item in JobsConfig.list(offsets) {
                guard let offset = ConfValue.parseDuration(item), offset > .zero else {
                    throw error("notifications", "reminder_offsets",
                                "write durations before the event separated by commas, e.g. \"24h, 1h\"; found '\(item)'")
                }
                parsed.append(offset)
            }
            delivery.reminderOffsets = parsed
        }
        delivery.notificationRetention = try duration("notifications", "retention") ?? delivery.notificationRetention
        return delivery
    }
}

extension JobsConfig {
    /// `smtp.from` and `EVENTLY_SMTP_FROM`: a mailbox such as "Evently <tickets@example.com>".
    static func mailbox(_ text: String) throws(ConfValue.ParseError) -> String {
        guard SMTPSettings.mailbox(of: text) != nil else {
            throw ConfValue.ParseError(message: "must be an address such as \"Evently <tickets@example.com>\", found \"\(text)\"")
        }
        return text
    }

    /// `smtp.tls` and `EVENTLY_SMTP_TLS`.
    static func smtpSecurity(_ text: String) throws(ConfValue.ParseError) -> SMTPSecurity {
        guard let security = SMTPSecurity(rawValue: text) else {
            throw ConfValue.ParseError(message: "must be one of \(SMTPSecurity.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(text)\"")
        }
        return security
    }

    /// `sms.url` and `EVENTLY_SMS_URL`: an http(s) URL with a host.
    static func httpURL(_ text: String) throws(ConfValue.ParseError) -> String {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), url.host?.isEmpty == false,
              scheme == "http" || scheme == "https" else {
            throw ConfValue.ParseError(message: "must be an http:// or https:// URL, found \"\(text)\"")
        }
        return text
    }
}
