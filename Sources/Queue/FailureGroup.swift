import Foundation

/// Discarded and retrying jobs of one kind whose last error reads the same.
public struct FailureGroup: Sendable, Equatable, Codable {
    /// Messages are grouped, and shown, by this many leading characters.
    public static let errorLength = 300

    public var kind: String
    public var error: String
    public var count: Int
    public var discarded: Int
    public var retryable: Int
    public var firstSeen: Date
    public var lastSeen: Date
    /// The newest job of the group.
    public var sampleID: Int64

    enum CodingKeys: String, CodingKey {
        case kind, error, count, discarded, retryable
        case firstSeen = "first_seen", lastSeen = "last_seen", sampleID = "sample_id"
    }
}
