import ArgumentParser
import Foundation
import Queue

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enqueue", abstract: "Enqueue a job by hand and print its id.")

    @OptionGroup var options: ConfigOptions
    @Argument(help: "The job kind, e.g. diag.noop") var kind: String
    @Option(help: "Arguments as a JSON object.") var args: String = "{}"
    @Option var queue: String = EnqueueOptions().queue
    // `.unconditional`: `--priority -5` is a value, not an unknown option.
    @Option(parsing: .unconditional, help: "Lower runs first; negative values jump the line.") var priority: Int = EnqueueOptions().priority
    @Option(help: "When to run, RFC 3339 (e.g. 2026-01-01T09:00:00Z).") var runAt: String?
    @Option var uniqueKey: String?
    @Option var maxAttempts: Int = EnqueueOptions().maxAttempts

    func validate() throws {
        guard InputLimits.priority.contains(priority) else {
            throw ValidationError("--priority must be between \(InputLimits.priority.lowerBound) and \(InputLimits.priority.upperBound)")
        }
        try QueuesCommand.checkQueueName(queue)
    }

    func run() async throws {
        var runAtDate: Date?
        if let runAt {
            guard let parsed = ISO8601DateFormatter().date(from: runAt) else {
                throw ValidationError("--run-at must be an RFC 3339 time such as 2026-01-01T09:00:00Z, got '\(runAt)'")
            }
            runAtDate = parsed
        }
        let job = NewJob(kind: kind, argsJSON: args, options: EnqueueOptions(
            queue: queue, priority: priority, runAt: runAtDate, maxAttempts: maxAttempts, uniqueKey: uniqueKey))
        do { try JobClient.validate(job) } catch { throw ValidationError("\(error)") }
        let result = try await options.withJobClient { try await $0.enqueue(job) }
        print(result.id)
        if !result.inserted {
            FileHandle.standardError.write(Data("unique key '\(uniqueKey ?? "")' is held by unfinished job \(result.id): nothing enqueued\n".utf8))
        }
    }
}
