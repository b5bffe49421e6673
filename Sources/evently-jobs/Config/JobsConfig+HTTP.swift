import Foundation

extension JobsConfig {
    /// `[http]`: whether and where the intake listens.
    struct HTTP: Sendable {
        var enabled = true
        var host = "127.0.0.1"
        var port = 8080
    }

    /// The `/v1` intake's auth and abuse limits, from `[http]` and `[auth]`.
    struct Intake: Sendable {
        /// HS256 secret for bearer tokens; `nil` refuses every token.
        var jwtSecret: String?
        /// Requests per minute; 0 turns a limit off.
        var rateLimitPerUser = 600
        var rateLimitPerAddress = 1_200
        /// Peers whose X-Forwarded-For names the client.
        var trustedProxies: [String] = []
        /// Origins allowed by CORS; none by default.
        var corsOrigins: [String] = []
    }

    /// `auth.jwt_secret` and `EVENTLY_JWT_SECRET`.
    static func jwtSecret(_ text: String) throws(ConfValue.ParseError) -> String {
        guard text.utf8.count >= 32 else {
            throw ConfValue.ParseError(message: "must be at least 32 bytes (the size of an HS256 key)")
        }
        return text
    }
}

extension ConfReader {
    /// `[http]` and `[auth]`.
    mutating func httpAndAuth() throws(ConfigError) -> (JobsConfig.HTTP, JobsConfig.Intake) {
        var http = JobsConfig.HTTP()
        http.enabled = try boolean("http", "enabled") ?? http.enabled
        http.host = try string("http", "host") ?? http.host
        http.port = try integer("http", "port", in: 0...65535) ?? http.port

        var intake = JobsConfig.Intake()
        intake.jwtSecret = try string("auth", "jwt_secret", JobsConfig.jwtSecret)
        intake.rateLimitPerUser = try integer("http", "rate_limit_per_user", in: 0...1_000_000) ?? intake.rateLimitPerUser
        intake.rateLimitPerAddress = try integer("http", "rate_limit_per_ip", in: 0...1_000_000) ?? intake.rateLimitPerAddress
        intake.trustedProxies = JobsConfig.list(try string("http", "trusted_proxies"))
        intake.corsOrigins = JobsConfig.list(try string("http", "cors_origins"))
        return (http, intake)
    }
}
