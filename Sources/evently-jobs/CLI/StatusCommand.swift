import ArgumentParser
import Foundation
import Queue

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Per-queue counts, oldest waiting job and recent throughput.")

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Option(help: "Redraw every interval (e.g. 2s) until interrupted.") var watch: String?

    func validate() throws {
        if let watch {
            guard let interval = ConfValue.parseDuration(watch), interval >= .milliseconds(200) else {
                throw ValidationError("--watch takes an interval of at least 200ms, such as 2s")
            }
        }
    }

    func run() async throws {
        guard let interval = watch.flatMap(ConfValue.parseDuration) else {
            let statuses = try await options.withJobClient { try await $0.status() }
            print(json ? try OperatorOutput.json(statuses) : render(statuses))
            return
        }
        try await options.withJobClient { jobs in
            while true {
                let statuses = try await jobs.status()
                // Clear the screen and go home, as `watch(1)` does; JSON is printed line after line.
                let frame = json ? try OperatorOutput.json(statuses) : "\u{1B}[2J\u{1B}[H" + render(statuses)
                print(frame + "\n(every \(watch ?? ""), \(OperatorOutput.time(Date())); Ctrl-C to stop)")
                try await Task.sleep(for: interval)
            }
        }
    }

    func render(_ statuses: [QueueStatus]) -> String {
        var output = ""
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
        output += OperatorOutput.table(rows) + "\n"
        output += "(finished states count the last \((statuses.first?.recentWindowSeconds ?? 300) / 60) minutes)"
        // Jobs that wait for a daemon which is not there: a rolling upgrade half done, or a
        // worker missing from every daemon. They are never discarded for it.
        let stranded = statuses.flatMap { status in
            status.withoutLiveWorker.sorted { $0.key < $1.key }.map { [status.queue, $0.key, "\($0.value)"] }
        }
        if !stranded.isEmpty {
            output += "\n\nwaiting for a daemon that can run them (no live daemon works this queue with this kind):\n"
            output += OperatorOutput.table([["queue", "kind", "jobs"]] + stranded)
        }
        return output
    }
}
