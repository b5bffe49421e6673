import Foundation
import Workers

extension ConfReader {
    /// `[smtp]`, `[sms]` and `[notifications]`: how notifications are delivered.
    mutating func deliverySettings() throws(ConfigError) -> DeliverySettings {
        var delivery = DeliverySettings()
        var smtp = delivery.smtp
        smtp.host = try string("smtp", "host").flatMap { $0.isEmpty ? nil : $0 }
        smtp.port = try integer("smtp", "port", in: 1...65535) ?? smtp.port
        if let tls = try string("smtp", "tls") {
            guard let security = SMTPSecurity(rawValue: tls) else { throw error("smtp", "tls", SMTPSecurity.refusal(tls)) }
            smtp.security = security
        }
        smtp.user = try string("smtp", "user").flatMap { $0.isEmpty ? nil : $0 }
        smtp.password = try string("smtp", "password")
        smtp.from = try string("smtp", "from") ?? smtp.from
        guard SMTPSettings.mailbox(of: smtp.from) != nil else {
            throw error("smtp", "from", "must be an address such as \"Evently <tickets@example.com>\", found \"\(smtp.from)\"")
        }
        smtp.timeout = try duration("smtp", "timeout") ?? smtp.timeout
        smtp.caFile = try string("smtp", "ca_file")
        delivery.smtp = smtp

        var sms = delivery.sms
        sms.url = try string("sms", "url").flatMap { $0.isEmpty ? nil : $0 }
        if let url = sms.url, !JobsConfig.isHTTPURL(url) {
            throw error("sms", "url", "must be an http:// or https:// URL, found \"\(url)\"")
        }
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
    /// `EVENTLY_SMTP_*` and `EVENTLY_SMS_*` override the file.
    mutating func applyDeliveryEnvironment(_ environment: [String: String]) throws(ConfigError) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        func fail(_ name: String, _ message: String) -> ConfigError {
            ConfigError(file: "environment", line: nil, key: name, message: message)
        }
        if let host = value("EVENTLY_SMTP_HOST") { delivery.smtp.host = host }
        if let port = value("EVENTLY_SMTP_PORT") {
            guard let number = Int(port), (1...65535).contains(number) else {
                throw fail("EVENTLY_SMTP_PORT", "must be a port number (1-65535), found \"\(port)\"")
            }
            delivery.smtp.port = number
        }
        if let tls = value("EVENTLY_SMTP_TLS") {
            guard let security = SMTPSecurity(rawValue: tls) else { throw fail("EVENTLY_SMTP_TLS", SMTPSecurity.refusal(tls)) }
            delivery.smtp.security = security
        }
        if let user = value("EVENTLY_SMTP_USER") { delivery.smtp.user = user }
        if let password = value("EVENTLY_SMTP_PASSWORD") { delivery.smtp.password = password }
        if let from = value("EVENTLY_SMTP_FROM") {
            guard SMTPSettings.mailbox(of: from) != nil else {
                throw fail("EVENTLY_SMTP_FROM", "must be an address such as \"Evently <tickets@example.com>\", found \"\(from)\"")
            }
            delivery.smtp.from = from
        }
        if let url = value("EVENTLY_SMS_URL") {
            guard Self.isHTTPURL(url) else { throw fail("EVENTLY_SMS_URL", "must be an http:// or https:// URL, found \"\(url)\"") }
            delivery.sms.url = url
        }
        if let from = value("EVENTLY_SMS_FROM") { delivery.sms.from = from }
        if let secret = value("EVENTLY_SMS_SECRET") { delivery.sms.secret = secret }
        // libesmtp splits "host:port" at the first colon, so it cannot reach an IPv6 literal;
        // with tls = "tls" the TLS relay makes that connection instead, and can.
        if let host = delivery.smtp.host, host.contains(":"), delivery.smtp.security != .tls {
            throw ConfigError(file: sourcePath, line: keyLines["smtp.host"], key: "smtp.host",
                              message: "an IPv6 address works only with smtp.tls = \"tls\" (libesmtp splits host:port at the first colon); use a host name")
        }
        // Checked once the environment has had its say: a user in the file may well get its
        // password from the environment.
        if delivery.smtp.user != nil && (delivery.smtp.password ?? "").isEmpty {
            throw ConfigError(file: sourcePath, line: keyLines["smtp.user"], key: "smtp.user",
                              message: "needs a password (smtp.password or EVENTLY_SMTP_PASSWORD)")
        }
        if delivery.sms.url != nil && (delivery.sms.secret ?? "").isEmpty {
            throw ConfigError(file: sourcePath, line: keyLines["sms.url"], key: "sms.secret",
                              message: "an SMS provider URL is set but no signing secret (sms.secret or EVENTLY_SMS_SECRET)")
        }
    }

    static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), url.host?.isEmpty == false else { return false }
        return scheme == "http" || scheme == "https"
    }
}

extension SMTPSecurity {
    /// The message for a value that is none of the settings, the same from the file and the environment.
    static func refusal(_ value: String) -> String {
        "must be one of \(allCases.map(\.rawValue).joined(separator: ", ")), found \"\(value)\""
    }
}
