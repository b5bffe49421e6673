import BookingCore
import Foundation
import Logging
import Queue
import Workers

/// Everything the daemon reads from `jobs.conf`, with defaults for what the file leaves out.
///
/// Each `[section]` has its own file (`JobsConfig+Section.swift`): the section's model and how
/// it is read; `JobsConfig+Environment.swift` applies the `EVENTLY_*` overrides. Settings a
/// module defines (the queue engine, delivery, booking rules, schedules) are that module's own
/// types, filled here, so each default is written once.
struct JobsConfig: Sendable {
    var sourcePath: String
    var database = Database()
    var http = HTTP()
    var intake = Intake()
    var logLevel: Logger.Level = .info
    /// `[queue]`, `[queue.NAME]` and `[kind.NAME]`. The daemon always works `default` and the
    /// notification queue, at `default_concurrency` unless a section says otherwise.
    var queue: JobDaemon.Configuration = {
        var queue = JobDaemon.Configuration()
        queue.queues[NotificationDispatch.queue] = queue.defaultConcurrency
        return queue
    }()
    var scheduling = ScheduleSettings()
    var booking = BookingSettings()
    var delivery = DeliverySettings()
    /// `[reports]`: the CSV folder (relative to the config file's folder) and the default period.
    var reportsDirectory = "reports"
    var reportPeriod = ReportPeriod.daily
    var live = LiveSettings()
    /// Lines of the keys checked only after the environment applied, for their errors.
    var keyLines: [String: Int] = [:]

    init(sourcePath: String) {
        self.sourcePath = sourcePath
    }

    /// `path` relative to the config file's folder (or absolute), as a URL.
    func url(relativeToConfig path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        return URL(fileURLWithPath: sourcePath).deletingLastPathComponent().appendingPathComponent(path).standardizedFileURL
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

    /// Reads every section of `file`; a key no section knows is an error.
    init(file: ConfFile) throws(ConfigError) {
        self.init(sourcePath: file.path)
        var reader = ConfReader(file: file)
        database = try reader.database()
        (http, intake) = try reader.httpAndAuth()
        booking = try reader.booking()
        logLevel = try reader.string("log", "level", Self.parseLogLevel) ?? logLevel
        queue = try reader.queueEngine(startingFrom: queue)
        scheduling = try reader.scheduleSettings()
        delivery = try reader.deliverySettings()
        for key in ["smtp.user", "smtp.host", "sms.url"] {
            keyLines[key] = file.entries.first { $0.qualifiedKey == key }?.line
        }
        (reportsDirectory, reportPeriod) = try reader.reports()
        live = try reader.liveSettings()
        try reader.rejectUnread()
    }

    /// `[log] level` and `EVENTLY_LOG_LEVEL`.
    static func parseLogLevel(_ text: String) throws(ConfValue.ParseError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            throw .init(message: "must be one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    /// Splits "a, b ,c" into ["a", "b", "c"].
    static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
