import ArgumentParser
import Foundation
import Queue
import Scheduler

struct SchedulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedules", abstract: "List schedules with their next fire times and last enqueued tick.")

    @OptionGroup var options: ConfigOptions
    @Option(help: "How many upcoming fire times to show.") var next = 3
    @Flag var json = false

    struct Row: Encodable {
        var name: String
        var cron: String
        var timeZone: String
        var kind: String
        var queue: String
        var enabled: Bool
        var nextFireTimes: [Date]
        var lastTick: Date?
        enum CodingKeys: String, CodingKey {
            case name, cron, kind, queue, enabled
            case timeZone = "time_zone", nextFireTimes = "next_fire_times", lastTick = "last_tick"
        }
    }

    func run() async throws {
        let config = try options.load()
        let rows = try await options.withJobClient { jobs in
            var rows: [Row] = []
            for schedule in config.scheduling.schedules {
                var upcoming: [Date] = []
                var cursor = Date()
                while upcoming.count < next, let fire = schedule.expression.nextFireDate(after: cursor) {
                    upcoming.append(fire)
                    cursor = fire
                }
                let last = try await ScheduleTicks.lastTick(schedule: schedule.name, client: jobs.client, logger: jobs.logger)
                rows.append(Row(name: schedule.name, cron: schedule.expression.text, timeZone: schedule.expression.timeZone.identifier,
                                kind: schedule.kind, queue: schedule.queue, enabled: schedule.enabled,
                                nextFireTimes: upcoming, lastTick: last))
            }
            return rows
        }
        if json { print(try OperatorOutput.json(rows)); return }
        var table = [["schedule", "cron", "zone", "kind", "enabled", "next", "last tick"]]
        for row in rows {
            table.append([row.name, row.cron, row.timeZone, row.kind, row.enabled ? "yes" : "no",
                          row.nextFireTimes.map(OperatorOutput.time).joined(separator: " "),
                          row.lastTick.map(OperatorOutput.time) ?? "-"])
        }
        print(OperatorOutput.table(table))
    }
}
