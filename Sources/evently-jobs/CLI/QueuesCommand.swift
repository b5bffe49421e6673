import ArgumentParser
import Queue

struct QueuesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues", abstract: "Pause or resume claiming from a queue on every daemon.",
        subcommands: [Pause.self, Resume.self])

    /// A queue name as jobs carry it (the HTTP intake's rule): a typo such as an empty name
    /// would otherwise create a paused queue no job can be in.
    static func checkQueueName(_ queue: String) throws {
        do {
            try InputLimits.checkIdentifier(queue, field: "queue")
        } catch {
            throw ValidationError("the queue name must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit; got '\(queue.prefix(80))'")
        }
    }

    struct Pause: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        func validate() throws { try QueuesCommand.checkQueueName(queue) }
        func run() async throws {
            try await options.withJobClient { try await $0.setPaused(true, queue: queue) }
            print("queue \(queue) paused")
        }
    }

    struct Resume: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Argument var queue: String
        func validate() throws { try QueuesCommand.checkQueueName(queue) }
        func run() async throws {
            try await options.withJobClient { try await $0.setPaused(false, queue: queue) }
            print("queue \(queue) resumed")
        }
    }
}
