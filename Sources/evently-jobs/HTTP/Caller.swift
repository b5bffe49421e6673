import Foundation

/// Who is calling, from a verified token.
struct Caller: Sendable, Equatable {
    enum Role: String, Sendable, Codable {
        case user, admin
        /// May enqueue and steer jobs, not touch bookings of others.
        case `operator`
    }

    var userID: UUID
    var email: String
    var role: Role
    var phone: String?
    /// When the token stops being accepted (its `exp` plus the allowed leeway): live streams
    /// close then.
    var expiresAt: Date? = nil
}
