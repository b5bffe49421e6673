import ArgumentParser
import Foundation
import Queue

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Per-queue counts, oldest waiting job and recent throughput.")

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        let statuses = try await options.withJobClient { try await $0.status() }
        if json {
            print(try OperatorOutput.json(statuses))
            return
        }
        let states: [JobState] = [.available, .scheduled, .running, .retryable, .completed, .cancelled, .discarded]
        var rows = [["queue"] + states.map(\.rawValue) + ["oldest_wait", "done/min", "paused"]]
        for status in statuses {
            let perMinute = Double(status.completedRecently) / (Double(status.recentWindowSeconds) / 60)
            rows.append([status.queue] + states.map { "\(status.counts[$0] ?? 0)" } + [
                status.oldestDueAgeSeconds.map { String(format: "%.1fs", $0) } ?? "-",
                String(format: "%.1f", perMinute),
                status.paused ? "yes" : "no",
            ])
        }
        print(OperatorOutput.table(rows))
        print("(finished states count the last \((statuses.first?.recentWindowSeconds ?? 300) / 60) minutes)")
        // Jobs that wait for a daemon which is not there: a rolling upgrade half done, or a
        // worker missing from every daemon. They are never discarded for it.
        let stranded = statuses.flatMap { status in
            status.withoutLiveWorker.sorted { $0.key < $1.key }.map { [status.queue, $0.key, "\($0.value)"] }
        }
        if !stranded.isEmpty {
            print("\nwaiting for a daemon that can run them (no live daemon works this queue with this kind):")
            print(OperatorOutput.table([["queue", "kind", "jobs"]] + stranded))
        }
    }
}
