/// What an operator's bulk action does to each job it names.
public enum BulkAction: String, Sendable, CaseIterable, Codable {
    /// As ``JobClient/retry(id:)``: from retryable, discarded, cancelled, scheduled or available.
    case retry
    /// As ``JobClient/cancel(id:)``: from any unfinished state, running included.
    case cancel
    /// Removes finished jobs only (completed, cancelled, discarded); never a running one.
    case delete

    /// The states a job must be in for the action to change it.
    public var allowedFrom: [JobState] {
        switch self {
        case .retry: [.retryable, .discarded, .cancelled, .scheduled, .available]
        case .cancel: JobState.unfinished
        case .delete: JobState.finished
        }
    }
}

/// What a bulk action did: jobs that matched, and those whose state let it change them.
public struct BulkResult: Sendable, Equatable, Codable {
    public var action: BulkAction
    public var matched: Int
    public var changed: Int

    public init(action: BulkAction, matched: Int, changed: Int) {
        self.action = action
        self.matched = matched
        self.changed = changed
    }
}
