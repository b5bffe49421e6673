import ArgumentParser
import Foundation
import Queue

/// `evently-jobs jobs bulk retry|cancel|delete`: one action on many jobs, named by ids or by a
/// filter, as the console's bulk buttons do (`POST /v1/jobs/bulk`). Without `--yes` it only
/// says how many jobs match, so a filter can be checked before it acts.
struct JobsBulkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulk", abstract: "Retry, cancel or delete many jobs, by ids or by filter (--yes to act).")

    @OptionGroup var options: ConfigOptions
    @Argument(help: "retry, cancel or delete") var action: String
    @Option(help: "Comma-separated job ids (at most 1000); instead of a filter.") var ids: String?
    @Option(help: "Comma-separated states, e.g. discarded,retryable.") var state: String?
    @Option var kind: String?
    @Option var queue: String?
    @Option(help: "Text found in the arguments or errors.") var text: String?
    @Option(help: "The last error's message, as failure groups show it.") var error: String?
    @Flag(help: "Act; without it, print how many jobs match and change nothing.") var yes = false

    func validate() throws {
        guard BulkAction(rawValue: action) != nil else { throw ValidationError("the action must be retry, cancel or delete") }
        if ids != nil && hasFilter { throw ValidationError("give --ids or filter options, not both") }
        if ids == nil && !hasFilter { throw ValidationError("name the jobs: --ids, or at least one of --state, --kind, --queue, --text, --error") }
        if let ids, try Self.parseIDs(ids).count > 1_000 { throw ValidationError("--ids takes at most 1000 ids; use a filter for more") }
        if let queue { try QueuesCommand.checkQueueName(queue) }
        _ = try filter()
    }

    private var hasFilter: Bool { state != nil || kind != nil || queue != nil || text != nil || error != nil }

    static func parseIDs(_ text: String) throws -> [Int64] {
        try text.split(separator: ",").map { part in
            guard let id = Int64(part.trimmingCharacters(in: .whitespaces)), id > 0 else {
                throw ValidationError("--ids must be positive job ids separated by commas, got '\(part)'")
            }
            return id
        }
    }

    func filter() throws -> JobFilter {
        var filter = JobFilter(kind: kind, queue: queue, text: text, lastError: error)
        if let state {
            filter.states = try state.split(separator: ",").map { name in
                guard let parsed = JobState(rawValue: String(name)) else {
                    throw ValidationError("--state takes \(JobState.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
                }
                return parsed
            }
        }
        return filter
    }

    func run() async throws {
        guard let bulkAction = BulkAction(rawValue: action) else { return }
        let filter = try filter()
        let ids = try self.ids.map(Self.parseIDs)
        let message = try await options.withJobClient { jobs -> String in
            guard yes else {
                var named = ids.map { "\($0.count)" } ?? ""
                if ids == nil {
                    let counted = try await jobs.count(matching: filter)
                    named = (counted.capped ? "more than " : "") + "\(counted.count)"
                }
                return "\(named) job(s) named; nothing changed (add --yes to \(action) them)"
            }
            let result: BulkResult
            if let ids {
                result = try await jobs.bulk(bulkAction, ids: ids)
            } else {
                result = try await jobs.bulk(bulkAction, matching: filter)
            }
            return "\(action): \(result.changed) of \(result.matched) matching job(s) changed"
        }
        print(message)
    }
}
