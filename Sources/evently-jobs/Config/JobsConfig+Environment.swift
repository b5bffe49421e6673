import Foundation
import Logging
import Workers

extension JobsConfig {
    /// Applies the `EVENTLY_*` variables over the file (an empty variable is ignored), then
    /// checks what needs the two together.
    ///
    /// - Throws: ``ConfigError`` naming the variable, or the file key that is now incomplete.
    mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigError) {
        let variables = EnvironmentVariables(values: environment)
        database.url = try variables.value("EVENTLY_DATABASE_URL", Self.databaseURL) ?? database.url
        database.listenURL = try variables.value("EVENTLY_DATABASE_LISTEN_URL", Self.singleHostDatabaseURL) ?? database.listenURL
        database.replicaURL = try variables.value("EVENTLY_DATABASE_REPLICA_URL", Self.singleHostDatabaseURL) ?? database.replicaURL
        http.port = try variables.value("EVENTLY_HTTP_PORT") { text throws(ConfValue.ParseError) -> Int in
            guard let port = Int(text), (0...65535).contains(port) else {
                throw ConfValue.ParseError(message: "must be a port number (0-65535), found \"\(text)\"")
            }
            return port
        } ?? http.port
        http.host = variables.text("EVENTLY_HTTP_HOST") ?? http.host
        intake.jwtSecret = try variables.value("EVENTLY_JWT_SECRET", Self.jwtSecret) ?? intake.jwtSecret
        let perMinute = { (text: String) throws(ConfValue.ParseError) -> Int in
            guard let value = Int(text), value >= 0 else {
                throw ConfValue.ParseError(message: "must be a number of requests per minute (0 = off), found \"\(text)\"")
            }
            return value
        }
        intake.rateLimitPerUser = try variables.value("EVENTLY_RATE_LIMIT_PER_USER", perMinute) ?? intake.rateLimitPerUser
        intake.rateLimitPerAddress = try variables.value("EVENTLY_RATE_LIMIT_PER_IP", perMinute) ?? intake.rateLimitPerAddress
        database.embeddedDirectory = variables.text("EVENTLY_EMBEDDED_DIR") ?? database.embeddedDirectory
        logLevel = try variables.value("EVENTLY_LOG_LEVEL", Self.parseLogLevel) ?? logLevel

        delivery.smtp.host = variables.text("EVENTLY_SMTP_HOST") ?? delivery.smtp.host
        delivery.smtp.port = try variables.value("EVENTLY_SMTP_PORT") { text throws(ConfValue.ParseError) -> Int in
            guard let port = Int(text), (1...65535).contains(port) else {
                throw ConfValue.ParseError(message: "must be a port number (1-65535), found \"\(text)\"")
            }
            return port
        } ?? delivery.smtp.port
        delivery.smtp.security = try variables.value("EVENTLY_SMTP_TLS", Self.smtpSecurity) ?? delivery.smtp.security
        delivery.smtp.user = variables.text("EVENTLY_SMTP_USER") ?? delivery.smtp.user
        delivery.smtp.password = variables.text("EVENTLY_SMTP_PASSWORD") ?? delivery.smtp.password
        delivery.smtp.from = try variables.value("EVENTLY_SMTP_FROM", Self.mailbox) ?? delivery.smtp.from
        delivery.sms.url = try variables.value("EVENTLY_SMS_URL", Self.httpURL) ?? delivery.sms.url
        delivery.sms.from = variables.text("EVENTLY_SMS_FROM") ?? delivery.sms.from
        delivery.sms.secret = variables.text("EVENTLY_SMS_SECRET") ?? delivery.sms.secret
        try checkDelivery()
    }

    /// What the file and the environment decide together.
    private func checkDelivery() throws(ConfigError) {
        // libesmtp splits "host:port" at the first colon, so it cannot reach an IPv6 literal;
        // with tls = "tls" the TLS relay makes that connection instead, and can.
        if let host = delivery.smtp.host, host.contains(":"), delivery.smtp.security != .tls {
            throw ConfigError(file: sourcePath, line: keyLines["smtp.host"], key: "smtp.host",
                              message: "an IPv6 address works only with smtp.tls = \"tls\" (libesmtp splits host:port at the first colon); use a host name")
        }
        // A user in the file may well get its password from the environment.
        if delivery.smtp.user != nil && (delivery.smtp.password ?? "").isEmpty {
            throw ConfigError(file: sourcePath, line: keyLines["smtp.user"], key: "smtp.user",
                              message: "needs a password (smtp.password or EVENTLY_SMTP_PASSWORD)")
        }
        if delivery.sms.url != nil && (delivery.sms.secret ?? "").isEmpty {
            throw ConfigError(file: sourcePath, line: keyLines["sms.url"], key: "sms.secret",
                              message: "an SMS provider URL is set but no signing secret (sms.secret or EVENTLY_SMS_SECRET)")
        }
    }
}

/// The process environment as `EVENTLY_*` overrides: an empty variable counts as unset, and a
/// bad value is a ``ConfigError`` naming the variable.
private struct EnvironmentVariables {
    let values: [String: String]

    func text(_ name: String) -> String? {
        values[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func value<T>(_ name: String, _ parse: (String) throws(ConfValue.ParseError) -> T) throws(ConfigError) -> T? {
        guard let text = text(name) else { return nil }
        do { return try parse(text) } catch {
            throw ConfigError(file: "environment", line: nil, key: name, message: error.message)
        }
    }
}
