import Foundation

/// Which jobs an operator means: every field that is set must match (nil and empty match all).
public struct JobFilter: Sendable, Equatable {
    public var states: [JobState] = []
    public var kind: String?
    public var queue: String?
    /// `created_at` from this moment on.
    public var since: Date?
    /// `created_at` before this moment.
    public var until: Date?
    /// Text found in the arguments or in the errors, compared case-insensitively.
    public var text: String?
    /// The last error's message as failure groups show it: its first
    /// ``FailureGroup/errorLength`` characters (so shorter messages match exactly).
    public var lastError: String?

    public init(states: [JobState] = [], kind: String? = nil, queue: String? = nil, since: Date? = nil,
                until: Date? = nil, text: String? = nil, lastError: String? = nil) {
        self.states = states
        self.kind = kind
        self.queue = queue
        self.since = since
        self.until = until
        self.text = text
        self.lastError = lastError
    }

    /// True when it would match every job.
    public var isEmpty: Bool {
        states.isEmpty && kind == nil && queue == nil && since == nil && until == nil && text == nil && lastError == nil
    }
}
