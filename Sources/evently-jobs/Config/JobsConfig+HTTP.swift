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
        /// When set, a token must carry this `iss` / have this among its `aud`.
        var issuer: String?
        var audience: String?
        /// Clock skew allowed on `exp` and `nbf`.
        var leeway: Duration = .seconds(30)
        /// Requests per minute; 0 turns a limit off.
        var rateLimitPerUser = 600
        var rateLimitPerAddress = 1_200
        /// Peers whose X-Forwarded-For names the client.
        var trustedProxies: [AddressRange] = []
        /// Origins allowed by CORS; none by default.
        var corsOrigins: [String] = []
        /// A connection that sends no complete request part for this long is closed (also a
        /// request head that trickles in: slowloris).
        var idleTimeout: Duration = .seconds(30)
        /// The longest a request body may take to arrive after its head.
        var requestTimeout: Duration = .seconds(30)
        /// The longest a request waits for the database before it is answered 503
        /// `database_timeout` (its outcome unknown: the database may still apply it).
        var databaseTimeout: Duration = .seconds(5)
        /// Job kinds `POST /v1/jobs` may enqueue (``EnqueueScope``).
        var enqueueKinds: [String] = EnqueueScope.defaultPatterns
    }

    /// `auth.jwt_secret` and `EVENTLY_JWT_SECRET`.
    static func jwtSecret(_ text: String) throws(ConfValue.ParseError) -> String {
        guard text.utf8.count >= 32 else {
            throw ConfValue.ParseError(message: "must be at least 32 bytes (the size of an HS256 key); make one with `openssl rand -hex 32`")
        }
        return text
    }

    /// `http.trusted_proxies`: comma-separated addresses or CIDR ranges.
    static func addressRanges(_ text: String) throws(ConfValue.ParseError) -> [AddressRange] {
        var ranges: [AddressRange] = []
        for item in list(text) {
            guard let range = AddressRange(item) else {
                throw ConfValue.ParseError(message: "\"\(item)\" is not an address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)")
            }
            ranges.append(range)
        }
        return ranges
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
        intake.issuer = try string("auth", "issuer").flatMap { $0.isEmpty ? nil : $0 }
        intake.audience = try string("auth", "audience").flatMap { $0.isEmpty ? nil : $0 }
        if let leeway = try duration("auth", "leeway") {
            guard leeway >= .zero, leeway <= .seconds(600) else { throw error("auth", "leeway", "must be between 0s and 10m") }
            intake.leeway = leeway
        }
        intake.rateLimitPerUser = try integer("http", "rate_limit_per_user", in: 0...1_000_000) ?? intake.rateLimitPerUser
        intake.rateLimitPerAddress = try integer("http", "rate_limit_per_ip", in: 0...1_000_000) ?? intake.rateLimitPerAddress
        intake.trustedProxies = try string("http", "trusted_proxies", JobsConfig.addressRanges) ?? []
        intake.corsOrigins = JobsConfig.list(try string("http", "cors_origins"))
        intake.idleTimeout = try positive("http", "idle_timeout") ?? intake.idleTimeout
        intake.requestTimeout = try positive("http", "request_timeout") ?? intake.requestTimeout
        if let limit = try duration("http", "database_timeout") {
            guard limit >= .milliseconds(100), limit <= .seconds(300) else {
                throw error("http", "database_timeout", "must be between 100ms and 5m")
            }
            intake.databaseTimeout = limit
        }
        if let kinds = try string("http", "enqueue_kinds") { intake.enqueueKinds = JobsConfig.list(kinds) }
        return (http, intake)
    }

    private mutating func positive(_ section: String, _ key: String) throws(ConfigError) -> Duration? {
        guard let value = try duration(section, key) else { return nil }
        guard value > .zero else { throw error(section, key, "must be longer than 0s") }
        return value
    }
}
