import Foundation
import Queue
import Scheduler

extension ConfReader {
    /// `[scheduler]` and every `[schedule.NAME]`; defaults are ``Schedule``'s and ``CatchUpPolicy``'s own.
    mutating func scheduleSettings() throws(ConfigError) -> ScheduleSettings {
        var settings = ScheduleSettings()
        settings.enabled = try boolean("scheduler", "enabled") ?? settings.enabled
        let window = try duration("scheduler", "catch_up_window") ?? CatchUpPolicy.defaultWindow
        let limit = try integer("scheduler", "catch_up_limit", in: 1...10_000) ?? CatchUpPolicy.defaultLimit
        switch try string("scheduler", "catch_up") ?? "latest" {
        case "latest": settings.catchUp = .latest(window: window)
        case "none": settings.catchUp = .none
        case "all": settings.catchUp = .all(window: window, limit: limit)
        default: throw error("scheduler", "catch_up", "must be \"latest\", \"none\" or \"all\"")
        }

        for name in subsections(of: "schedule") {
            let section = "schedule.\(name)"
            guard let cron = try string(section, "cron") else {
                throw ConfigError(file: file.path, line: file.entries.first { $0.section == section }?.line,
                                  key: "\(section).cron", message: "every schedule needs a cron expression")
            }
            guard let kind = try string(section, "kind"), !kind.isEmpty else {
                throw ConfigError(file: file.path, line: file.entries.first { $0.section == section }?.line,
                                  key: "\(section).kind", message: "every schedule needs the job kind it enqueues")
            }
            let zone = try string(section, "time_zone") ?? "UTC"
            let expression: CronExpression
            do {
                expression = try CronExpression(cron, timeZoneIdentifier: zone)
            } catch {
                let key = error.field == "time zone" ? "time_zone" : "cron"
                throw self.error(section, key, "schedule '\(name)': \(error)")
            }
            let args = try string(section, "args") ?? "{}"
            guard let object = try? JSONSerialization.jsonObject(with: Data(args.utf8)), object is [String: Any] else {
                throw self.error(section, "args", "must be a JSON object in single quotes, e.g. '{\"hours\": 24}'")
            }
            var schedule = Schedule(name: name, expression: expression, kind: kind, argsJSON: args)
            schedule.queue = try string(section, "queue") ?? schedule.queue
            schedule.priority = try integer(section, "priority", in: -1_000_000...1_000_000) ?? schedule.priority
            schedule.maxAttempts = try integer(section, "max_attempts", in: 1...1_000) ?? schedule.maxAttempts
            schedule.enabled = try boolean(section, "enabled") ?? schedule.enabled
            settings.schedules.append(schedule)
        }
        return settings
    }
}
