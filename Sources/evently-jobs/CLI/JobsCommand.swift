import ArgumentParser
import Foundation
import Queue

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, inspect, retry and cancel jobs, one or many.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self, JobsBulkCommand.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Option var state: String?
        @Option var kind: String?
        @Option var queue: String?
        @Option(help: "How many jobs to show, 1 to 1000.") var limit: Int = 50
        @Flag var json = false

        func validate() throws {
            guard (1...1_000).contains(limit) else { throw ValidationError("--limit must be 1 to 1000") }
        }

        func run() async throws {
            var jobState: JobState?
            if let state {
                guard let parsed = JobState(rawValue: state) else {
                    throw ValidationError("--state must be one of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                jobState = parsed
            }
            let jobs = try await options.withJobClient { try await $0.list(state: jobState, kind: kind, queue: queue, limit: limit) }
            if json { print(try OperatorOutput.json(jobs)); return }
            var rows = [["id", "kind", "queue", "state", "attempt", "run_at", "last_error"]]
            for job in jobs {
                rows.append(["\(job.id)", job.kind, job.queue, job.state.rawValue, "\(job.attempt)/\(job.maxAttempts)",
                             OperatorOutput.time(job.runAt), String((job.errors.last?.error ?? "").prefix(60))])
            }
            print(OperatorOutput.table(rows))
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Argument var id: Int64
        func run() async throws {
            print(try OperatorOutput.json(try await options.withJobClient { try await $0.job(id: id) }))
        }
    }

    struct Retry: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Argument var id: Int64
        func run() async throws {
            let job = try await options.withJobClient { try await $0.retry(id: id) }
            print("job \(job.id) is \(job.state.rawValue)")
        }
    }

    struct Cancel: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Argument var id: Int64
        func run() async throws {
            let job = try await options.withJobClient { try await $0.cancel(id: id) }
            print("job \(job.id) is \(job.state.rawValue)")
        }
    }
}
