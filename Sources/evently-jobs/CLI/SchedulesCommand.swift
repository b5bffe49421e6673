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

    func validate() throws {
        guard (1...20).contains(next) else { throw ValidationError("--next must be 1 to 20") }
    }

    func run() async throws {
        let config = try options.load()
        let rows = try await options.withJobClient { jobs in
            try await ScheduleOverview.list(config.scheduling.schedules, next: next, client: jobs.client, logger: jobs.logger)
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
