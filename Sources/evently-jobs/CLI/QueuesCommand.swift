import ArgumentParser
import Queue

struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Pause or resume claiming from a queue on every daemon.",
        subcommands: [Pause.self, Resume.self])

    struct Pause: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        func run() async throws {
            try await options.withJobClient { try await $0.setPaused(true, queue: queue) }
            print("queue \(queue) paused")
        }
    }

    struct Resume: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        func run() async throws {
            try await options.withJobClient { try await $0.setPaused(false, queue: queue) }
            print("queue \(queue) resumed")
        }
    }
}
