import Foundation

/// A job as operators see it.
public struct JobRecord: Sendable, Codable, Equatable {
    public struct AttemptError: Sendable, Codable, Equatable {
        public var attempt: Int
        public var at: String?
        public var kind: String?
        public var error: String
    }

    public var id: Int64
    public var kind: String
    public var queue: String
    public var state: JobState
    public var priority: Int
    public var attempt: Int
    public var maxAttempts: Int
    public var args: String
    public var runAt: Date
    public var createdAt: Date
    public var attemptedAt: Date?
    public var attemptedBy: String?
    public var finalizedAt: Date?
    public var uniqueKey: String?
    public var errors: [AttemptError]

    enum CodingKeys: String, CodingKey {
        case id, kind, queue, state, priority, attempt, args, errors
        case maxAttempts = "max_attempts", runAt = "run_at", createdAt = "created_at", attemptedAt = "attempted_at"
        case attemptedBy = "attempted_by", finalizedAt = "finalized_at", uniqueKey = "unique_key"
    }
}
