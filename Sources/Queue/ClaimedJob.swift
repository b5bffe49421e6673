/// A job a daemon has claimed and is about to run.
public struct ClaimedJob: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var queue: String
    public var argsJSON: String
    /// This attempt's number, starting at 1.
    public var attempt: Int
    public var maxAttempts: Int
    public var priority: Int

    public var isLastAttempt: Bool { attempt >= maxAttempts }
}
