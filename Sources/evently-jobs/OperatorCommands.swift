import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import Queue

extension ConfigOptions {
    /// Opens the configured (or embedded) database, migrated, for one CLI command.
    func withJobClient<T: Sendable>(_ body: (JobClient) async throws -> T) async throws -> T {
        let config = try load()
        var logger = makeLogger(config)
        // Operator commands print results; routine start-up chatter would drown them.
        if logger.logLevel < .warning { logger.logLevel = .warning }
        let location = DatabaseLocation(config: config, logger: logger)
        let clientConfiguration = try location.prepare(config: config, logger: logger)
        defer { location.shutDown(logger: logger) }
        let client = PostgresClient(configuration: clientConfiguration, backgroundLogger: logger)
        return try await client.whileRunning {
            try await DatabaseSchema.migrator(logger: logger).migrate(client)
            return try await body(JobClient(client: client, logger: logger))
        }
    }
}

struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enqueue", abstract: "Enqueue a job by hand and print its id.")

    @OptionGroup var options: ConfigOptions
    @Argument(help: "The job kind, e.g. diag.noop") var kind: String
    @Option(help: "Arguments as a JSON object.") var args: String = "{}"
    @Option var queue: String = "default"
    @Option(help: "Lower runs first.") var priority: Int = 0
    @Option(help: "When to run, RFC 3339 (e.g. 2026-01-01T09:00:00Z).") var runAt: String?
    @Option var uniqueKey: String?
    @Option var maxAttempts: Int = 25

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
    }
}

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List, inspect, retry and cancel jobs.",
        subcommands: [List.self, Show.self, Retry.self, Cancel.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ConfigOptions
        @Option var state: String?
        @Option var kind: String?
        @Option var queue: String?
        @Option var limit: Int = 50
        @Flag var json = false

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

enum OperatorOutput {
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func time(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    static func table(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
