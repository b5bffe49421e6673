import Foundation

/// How and when a job should run; every field has the database's default.
public struct EnqueueOptions: Sendable, Equatable {
    public var queue: String = "default"
    /// Lower runs first; negative values jump ahead of the default 0.
    public var priority: Int = 0
    /// Not before this moment; `nil` means now (by the database's clock).
    public var runAt: Date?
    public var maxAttempts: Int = 25
    /// While a job with this key is unfinished, enqueueing another with it does nothing.
    /// Put a period into the key (`"report:2025-09-14"`) to make a job unique per period.
    public var uniqueKey: String?
    public var tags: [String] = []

    public init(queue: String = "default", priority: Int = 0, runAt: Date? = nil, delay: Duration? = nil,
                maxAttempts: Int = 25, uniqueKey: String? = nil, tags: [String] = []) {
        self.queue = queue
        self.priority = priority
        self.runAt = runAt ?? delay.map { Date().addingTimeInterval($0.timeInterval) }
        self.maxAttempts = maxAttempts
        self.uniqueKey = uniqueKey
        self.tags = tags
    }
}
