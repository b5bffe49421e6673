import Foundation

/// Where an event is in its life.
public enum EventStatus: String, Sendable, Codable, Hashable {
    case active
    case cancelled
    case completed
}
