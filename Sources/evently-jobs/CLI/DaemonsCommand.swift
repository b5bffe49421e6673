import ArgumentParser
import Foundation
import Queue

/// `evently-jobs daemons`: the live daemons (heartbeat current), what they work and how many
/// jobs each runs now; the console's Daemons view.
struct DaemonsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemons", abstract: "List the live daemons with their queues, kinds and running jobs.")

    @OptionGroup var options: ConfigOptions
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() async throws {
        let daemons = try await options.withJobClient { try await $0.daemonActivity() }
        if json { print(try OperatorOutput.json(daemons)); return }
        var rows = [["name", "host", "pid", "version", "started", "heartbeat", "queues", "running"]]
        for entry in daemons {
            let daemon = entry.daemon
            rows.append([daemon.name, daemon.host, "\(daemon.pid)", daemon.version, OperatorOutput.time(daemon.startedAt),
                         OperatorOutput.time(daemon.heartbeatAt),
                         daemon.queues.sorted { $0.key < $1.key }.map { "\($0.key)(\($0.value))" }.joined(separator: " "),
                         "\(entry.running)"])
        }
        print(OperatorOutput.table(rows))
        if daemons.isEmpty { print("(no live daemon)") }
    }
}
