import Logging

/// What a worker knows about the attempt it runs.
public struct JobContext: Sendable {
    public var jobID: Int64
    public var kind: String
    public var queue: String
    public var attempt: Int
    public var maxAttempts: Int
    let baseLogger: Logger

    public init(jobID: Int64, kind: String, queue: String, attempt: Int, maxAttempts: Int, logger: Logger) {
        self.jobID = jobID
        self.kind = kind
        self.queue = queue
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.baseLogger = logger
    }

    /// A logger carrying the job's id and kind. Built on use: attaching metadata costs more
    /// than a no-op job, and most jobs never log.
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "job_id"] = "\(jobID)"
        logger[metadataKey: "kind"] = "\(kind)"
        logger[metadataKey: "attempt"] = "\(attempt)"
        return logger
    }
}
