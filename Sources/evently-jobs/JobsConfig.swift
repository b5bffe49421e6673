import Foundation
import Logging
import BookingCore
import Queue
import Workers

/// Everything the daemon reads from `jobs.conf`, with defaults for what the file leaves out.
struct JobsConfig: Sendable {
    struct Database: Sendable {
        /// A `postgres://` URL; `nil` means the embedded cluster.
        var url: String?
        /// Where the embedded cluster lives, relative to the config file's folder.
        var embeddedDirectory: String = ".evently/postgres"
        var poolSize: Int = 12
        var connectTimeout: Duration = .seconds(5)
    }

    struct HTTP: Sendable {
        var enabled = true
        var host = "127.0.0.1"
        var port = 8080
    }

    struct QueueRuntime: Sendable {
        /// Fallback wake-up when no notification arrives (a lost LISTEN connection, a due retry).
        var pollInterval: Duration = .seconds(1)
        /// How long a running job is owned before another daemon may rescue it.
        var lease: Duration = .seconds(60)
        var rescueInterval: Duration = .seconds(15)
        /// How long running jobs may finish after SIGTERM before they are handed back.
        var shutdownTimeout: Duration = .seconds(25)
        var retention: Duration = .seconds(7 * 86_400)
        var defaultTimeout: Duration = .seconds(300)
        var defaultConcurrency = 10
        /// Upper bound on jobs claimed in one statement.
        var claimBatch = 100
    }

    /// The `/v1` intake: auth and abuse limits.
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

    struct QueueSettings: Sendable, Equatable {
        var concurrency: Int
    }

    struct KindSettings: Sendable, Equatable {
        var timeout: Duration?
    }

    var sourcePath: String
    var database = Database()
    var http = HTTP()
    var logLevel: Logger.Level = .info
    var queue = QueueRuntime()
    var queues: [String: QueueSettings] = ["default": .init(concurrency: 10), NotificationDispatch.queue: .init(concurrency: 10)]
    var kinds: [String: KindSettings] = [:]
    var scheduling = ScheduleSettings()
    var intake = Intake()
    var booking = BookingSettings()
    var delivery = DeliverySettings()
    /// Lines of the keys checked only after the environment applied, for their errors.
    var keyLines: [String: Int] = [:]
    /// `[reports]`: the CSV folder (relative to the config file's folder) and the default period.
    var reportsDirectory = "reports"
    var reportPeriod = ReportPeriod.daily

    /// Where `report.build` writes CSV files, as an absolute URL.
    var reports: ReportSettings {
        let base = URL(fileURLWithPath: sourcePath).deletingLastPathComponent()
        let directory = reportsDirectory.hasPrefix("/") ? URL(fileURLWithPath: reportsDirectory)
            : base.appendingPathComponent(reportsDirectory).standardizedFileURL
        return ReportSettings(directory: directory, period: reportPeriod)
    }

    /// The embedded cluster's folder as an absolute URL.
    var embeddedDirectoryURL: URL {
        let base = URL(fileURLWithPath: sourcePath).deletingLastPathComponent()
        if database.embeddedDirectory.hasPrefix("/") { return URL(fileURLWithPath: database.embeddedDirectory) }
        return base.appendingPathComponent(database.embeddedDirectory).standardizedFileURL
    }
}

extension JobsConfig {
    /// Reads and checks the file at `path`, then applies `EVENTLY_*` environment overrides.
    ///
    /// - Throws: ``ConfigError`` naming the file, line and key of the first problem.
    static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> JobsConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ConfigError(file: path, line: nil, key: nil, message: exists
                ? "cannot read the configuration file"
                : "configuration file not found (pass --config PATH or create it from the repository's jobs.conf)")
        }
        var config = try JobsConfig(file: ConfFile(path: path, text: String(decoding: data, as: UTF8.self)))
        try config.applyEnvironment(environment)
        return config
    }

    init(file: ConfFile) throws(ConfigError) {
        self.init(sourcePath: file.path)
        var reader = ConfReader(file: file)

        database.url = try reader.string("database", "url")
        if let url = database.url, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")) {
            throw reader.error("database", "url", "must be a postgres:// URL")
        }
        database.embeddedDirectory = try reader.string("database", "embedded_dir") ?? database.embeddedDirectory
        database.poolSize = try reader.integer("database", "pool_size", in: 2...500) ?? database.poolSize
        database.connectTimeout = try reader.duration("database", "connect_timeout") ?? database.connectTimeout

        http.enabled = try reader.boolean("http", "enabled") ?? http.enabled
        http.host = try reader.string("http", "host") ?? http.host
        http.port = try reader.integer("http", "port", in: 0...65535) ?? http.port

        intake.jwtSecret = try reader.string("auth", "jwt_secret")
        if let secret = intake.jwtSecret, secret.utf8.count < 32 {
            throw reader.error("auth", "jwt_secret", "must be at least 32 bytes (the size of an HS256 key)")
        }
        intake.rateLimitPerUser = try reader.integer("http", "rate_limit_per_user", in: 0...1_000_000) ?? intake.rateLimitPerUser
        intake.rateLimitPerAddress = try reader.integer("http", "rate_limit_per_ip", in: 0...1_000_000) ?? intake.rateLimitPerAddress
        intake.trustedProxies = Self.list(try reader.string("http", "trusted_proxies"))
        intake.corsOrigins = Self.list(try reader.string("http", "cors_origins"))

        booking.maxQuantity = try reader.integer("booking", "max_quantity", in: 1...10_000) ?? booking.maxQuantity
        booking.offerWindow = try reader.duration("booking", "offer_window") ?? booking.offerWindow
        if let tiers = try reader.string("booking", "pricing_tiers") {
            booking.pricing = try Self.pricing(tiers) { reader.error("booking", "pricing_tiers", $0) }
        }

        if let level = try reader.string("log", "level") {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw reader.error("log", "level", "must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = parsed
        }

        queue.pollInterval = try reader.duration("queue", "poll_interval") ?? queue.pollInterval
        queue.lease = try reader.duration("queue", "lease") ?? queue.lease
        queue.rescueInterval = try reader.duration("queue", "rescue_interval") ?? queue.rescueInterval
        queue.shutdownTimeout = try reader.duration("queue", "shutdown_timeout") ?? queue.shutdownTimeout
        queue.retention = try reader.duration("queue", "retention") ?? queue.retention
        queue.defaultTimeout = try reader.duration("queue", "job_timeout") ?? queue.defaultTimeout
        queue.defaultConcurrency = try reader.integer("queue", "default_concurrency", in: 1...10_000) ?? queue.defaultConcurrency
        queue.claimBatch = try reader.integer("queue", "claim_batch", in: 1...10_000) ?? queue.claimBatch

        for name in reader.subsections(of: "queue") {
            let concurrency = try reader.integer("queue.\(name)", "concurrency", in: 1...10_000) ?? queue.defaultConcurrency
            queues[name] = QueueSettings(concurrency: concurrency)
        }
        scheduling = try reader.scheduleSettings()
        delivery = try reader.deliverySettings()
        for key in ["smtp.user", "smtp.host", "sms.url"] {
            keyLines[key] = file.entries.first { $0.qualifiedKey == key }?.line
        }
        reportsDirectory = try reader.string("reports", "directory") ?? reportsDirectory
        if let period = try reader.string("reports", "period") {
            guard let parsed = ReportPeriod(rawValue: period) else {
                throw reader.error("reports", "period", "must be \"daily\" or \"hourly\", found \"\(period)\"")
            }
            reportPeriod = parsed
        }
        for name in reader.subsections(of: "kind") {
            kinds[name] = KindSettings(timeout: try reader.duration("kind.\(name)", "timeout"))
        }
        try reader.rejectUnread()
    }

    mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigError) {
        func fail(_ name: String, _ message: String) -> ConfigError {
            ConfigError(file: "environment", line: nil, key: name, message: message)
        }
        if let url = environment["EVENTLY_DATABASE_URL"], !url.isEmpty {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw fail("EVENTLY_DATABASE_URL", "must be a postgres:// URL")
            }
            database.url = url
        }
        if let port = environment["EVENTLY_HTTP_PORT"], !port.isEmpty {
            guard let value = Int(port), (0...65535).contains(value) else {
                throw fail("EVENTLY_HTTP_PORT", "must be a port number (0-65535), found \"\(port)\"")
            }
            http.port = value
        }
        if let host = environment["EVENTLY_HTTP_HOST"], !host.isEmpty { http.host = host }
        if let secret = environment["EVENTLY_JWT_SECRET"], !secret.isEmpty {
            guard secret.utf8.count >= 32 else {
                throw fail("EVENTLY_JWT_SECRET", "must be at least 32 bytes (the size of an HS256 key)")
            }
            intake.jwtSecret = secret
        }
        for (name, keyPath) in [("EVENTLY_RATE_LIMIT_PER_USER", \Intake.rateLimitPerUser), ("EVENTLY_RATE_LIMIT_PER_IP", \Intake.rateLimitPerAddress)] {
            guard let text = environment[name], !text.isEmpty else { continue }
            guard let value = Int(text), value >= 0 else {
                throw fail(name, "must be a number of requests per minute (0 = off), found \"\(text)\"")
            }
            intake[keyPath: keyPath] = value
        }
        if let directory = environment["EVENTLY_EMBEDDED_DIR"], !directory.isEmpty { database.embeddedDirectory = directory }
        if let level = environment["EVENTLY_LOG_LEVEL"], !level.isEmpty {
            guard let parsed = Logger.Level(rawValue: level) else {
                throw fail("EVENTLY_LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = parsed
        }
        try applyDeliveryEnvironment(environment)
    }
}

extension JobsConfig {
    /// Reads "0.5:1.0, 0.8:1.25, 1.0:1.5": up to each sold fraction, seats cost base × multiplier.
    static func pricing(_ text: String, error makeError: (String) -> ConfigError) throws(ConfigError) -> PricingPolicy {
        var tiers: [PricingPolicy.Tier] = []
        for pair in list(text) {
            let parts = pair.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let fraction = Decimal(string: parts[0]), let multiplier = Decimal(string: parts[1]) else {
                throw makeError("write tiers as \"sold_fraction:multiplier\" pairs, e.g. \"0.5:1.0, 1.0:1.5\"; found '\(pair)'")
            }
            tiers.append(PricingPolicy.Tier(upToSoldFraction: fraction, multiplier: multiplier))
        }
        do { return try PricingPolicy(tiers: tiers) } catch { throw makeError("\(error)") }
    }

    /// Splits "a, b ,c" into ["a", "b", "c"].
    static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// Typed, tracked access to a ``ConfFile``: every key read is checked off, so what is left at
/// the end is a key nobody knows — a typo, reported with its line.
struct ConfReader {
    let file: ConfFile
    private var unread: [String: ConfFile.Entry]

    init(file: ConfFile) {
        self.file = file
        self.unread = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.qualifiedKey, $0) })
    }

    func error(_ section: String, _ key: String, _ message: String) -> ConfigError {
        let qualified = "\(section).\(key)"
        let line = file.entries.first { $0.qualifiedKey == qualified }?.line
        return ConfigError(file: file.path, line: line, key: qualified, message: message)
    }

    /// Names `x` for every section `[prefix.x]` present in the file.
    func subsections(of prefix: String) -> [String] {
        var names: [String] = []
        for entry in file.entries where entry.section.hasPrefix(prefix + ".") {
            let name = String(entry.section.dropFirst(prefix.count + 1))
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    private mutating func take(_ section: String, _ key: String) -> ConfFile.Entry? {
        unread.removeValue(forKey: "\(section).\(key)")
    }

    private func mismatch(_ entry: ConfFile.Entry, expected: String) -> ConfigError {
        ConfigError(file: file.path, line: entry.line, key: entry.qualifiedKey,
                    message: "expected \(expected), found \(entry.value.typeName) \(entry.value)")
    }

    mutating func string(_ section: String, _ key: String) throws(ConfigError) -> String? {
        guard let entry = take(section, key) else { return nil }
        guard case .string(let value) = entry.value else { throw mismatch(entry, expected: "quoted text") }
        return value
    }

    mutating func integer(_ section: String, _ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let entry = take(section, key) else { return nil }
        guard case .integer(let value) = entry.value else { throw mismatch(entry, expected: "an integer") }
        guard range.contains(value) else {
            throw ConfigError(file: file.path, line: entry.line, key: entry.qualifiedKey,
                              message: "must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        return value
    }

    mutating func boolean(_ section: String, _ key: String) throws(ConfigError) -> Bool? {
        guard let entry = take(section, key) else { return nil }
        guard case .boolean(let value) = entry.value else { throw mismatch(entry, expected: "true or false") }
        return value
    }

    mutating func duration(_ section: String, _ key: String) throws(ConfigError) -> Duration? {
        guard let entry = take(section, key) else { return nil }
        guard case .duration(let value) = entry.value else {
            throw mismatch(entry, expected: "a duration such as 500ms, 30s, 5m, 2h or 7d")
        }
        return value
    }

    func rejectUnread() throws(ConfigError) {
        guard let first = unread.values.min(by: { $0.line < $1.line }) else { return }
        throw ConfigError(file: file.path, line: first.line, key: first.qualifiedKey, message: "unknown key")
    }
}

extension JobsConfig {
    /// The queue engine's settings from `[queue]`, `[queue.NAME]` and `[kind.NAME]`.
    var jobDaemonConfiguration: JobDaemon.Configuration {
        var configuration = JobDaemon.Configuration()
        configuration.queues = queues.mapValues(\.concurrency)
        configuration.claimBatch = queue.claimBatch
        configuration.pollInterval = queue.pollInterval
        configuration.lease = queue.lease
        configuration.rescueInterval = queue.rescueInterval
        configuration.shutdownTimeout = queue.shutdownTimeout
        configuration.defaultTimeout = queue.defaultTimeout
        configuration.kindTimeouts = kinds.compactMapValues(\.timeout)
        return configuration
    }
}
