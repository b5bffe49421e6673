import Foundation
import Logging
import PostgresNIO

/// The statements on `evently.users`. Like every store, it runs on the caller's connection
/// (and transaction) and never opens one itself.
public struct UserStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    static let columns = "id, email, phone, role, version, created_at, updated_at"

    static func decode(_ row: PostgresRow) throws -> User {
        let (id, email, phone, role, version, createdAt, updatedAt) =
            try row.decode((UUID, String, String?, String, Int, Date, Date).self)
        return User(id: id, email: email, phone: phone, role: try UserRole(stored: role), version: version,
                    createdAt: createdAt, updatedAt: updatedAt)
    }

    /// Creates the user from token claims, or refreshes email, role and phone; the version rises
    /// only when one of them changed. Returns the stored user.
    ///
    /// - Throws: ``BookingError/emailInUse`` when another user has the email;
    ///   ``BookingError/invalidInput(field:reason:)`` for an empty email.
    public func upsert(_ claims: UserClaims, now: Date, on connection: PostgresConnection) async throws -> User {
        let email = claims.email.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !email.isEmpty else { throw BookingError.invalidInput(field: "email", reason: "must not be empty") }
        let phone = claims.phone.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        do {
            // ON CONFLICT ... WHERE: an unchanged user is not rewritten (no version bump, no dead
            // tuple), in which case nothing is returned and we read the row as it is.
            let upserted = try await connection.firstRow("""
                INSERT INTO evently.users AS u (id, email, phone, role, created_at, updated_at)
                VALUES (\(claims.id), \(email), \(phone), \(claims.role.rawValue), \(now), \(now))
                ON CONFLICT (id) DO UPDATE
                SET email = excluded.email, phone = excluded.phone, role = excluded.role,
                    version = u.version + 1, updated_at = excluded.updated_at
                WHERE (u.email, u.phone, u.role) IS DISTINCT FROM (excluded.email, excluded.phone, excluded.role)
                RETURNING \(unescaped: Self.columns)
                """, logger: logger, Self.decode)
            if let upserted { return upserted }
            return try await get(id: claims.id, on: connection)
        } catch let error where ConstraintViolation.classify(error)?.constraint == "users_email_key" {
            throw BookingError.emailInUse
        }
    }

    /// The user with `id`.
    ///
    /// - Throws: ``BookingError/userNotFound``.
    public func get(id: UUID, on connection: PostgresConnection) async throws -> User {
        let user = try await connection.firstRow(
            "SELECT \(unescaped: Self.columns) FROM evently.users WHERE id = \(id)", logger: logger, Self.decode)
        guard let user else { throw BookingError.userNotFound }
        return user
    }
}
