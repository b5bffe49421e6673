import Foundation

/// A platform user, mirrored from the identity token.
public struct User: Sendable, Codable, Equatable, Identifiable {
    public var id: UUID
    public var email: String
    /// For SMS; from the optional OIDC `phone_number` claim.
    public var phone: String?
    public var role: UserRole
    /// Rises whenever the claims change.
    public var version: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: UUID, email: String, phone: String?, role: UserRole, version: Int, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.email = email
        self.phone = phone
        self.role = role
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
