import Foundation

/// Jobs of one queue that finished within one minute, by outcome.
public struct FinishedPerMinute: Sendable, Equatable, Codable {
    public var queue: String
    /// The start of the minute.
    public var minute: Date
    public var completed: Int
    public var discarded: Int
    public var cancelled: Int
}
