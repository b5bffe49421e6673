import Queue

extension ConfReader {
    /// `[queue]`, `[queue.NAME]` and `[kind.NAME]` over `configuration` (whose defaults are
    /// ``JobDaemon/Configuration``'s own).
    mutating func queueEngine(startingFrom configuration: JobDaemon.Configuration) throws(ConfigError) -> JobDaemon.Configuration {
        var queue = configuration
        queue.pollInterval = try duration("queue", "poll_interval") ?? queue.pollInterval
        queue.lease = try duration("queue", "lease") ?? queue.lease
        queue.rescueInterval = try duration("queue", "rescue_interval") ?? queue.rescueInterval
        queue.shutdownTimeout = try duration("queue", "shutdown_timeout") ?? queue.shutdownTimeout
        queue.retention = try duration("queue", "retention") ?? queue.retention
        queue.defaultTimeout = try duration("queue", "job_timeout") ?? queue.defaultTimeout
        queue.defaultConcurrency = try integer("queue", "default_concurrency", in: 1...10_000) ?? queue.defaultConcurrency
        queue.claimBatch = try integer("queue", "claim_batch", in: 1...10_000) ?? queue.claimBatch
        queue.claimsInFlight = try integer("queue", "claims_in_flight", in: 1...8) ?? queue.claimsInFlight
        for name in subsections(of: "queue") {
            queue.queues[name] = try integer("queue.\(name)", "concurrency", in: 1...10_000) ?? queue.defaultConcurrency
        }
        for name in subsections(of: "kind") {
            if let timeout = try duration("kind.\(name)", "timeout") { queue.kindTimeouts[name] = timeout }
        }
        // Values that parse but would spin against the database or lose running jobs.
        if let problem = queue.problems.first {
            let parts = problem.key.split(separator: ".")
            throw error(parts.dropLast().joined(separator: "."), String(parts.last ?? ""), problem.reason)
        }
        return queue
    }
}
