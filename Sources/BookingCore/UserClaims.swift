import Foundation

/// What a verified token says about its user: the input of ``UserStore/upsert(_:now:on:)``.
public struct UserClaims: Sendable, Equatable {
    public var id: UUID
    public var email: String
    public var role: UserRole
    public var phone: String?

    public init(id: UUID, email: String, role: UserRole, phone: String? = nil) {
        self.id = id
        self.email = email
        self.role = role
        self.phone = phone
    }
}
