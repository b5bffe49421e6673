import Foundation

/// Whether a user may administer events.
public enum UserRole: String, Sendable, Codable, Hashable {
    case admin
    case user
}
