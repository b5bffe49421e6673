import Foundation
import HTTPTypes
import JWTKit
import Logging

/// Verifies `Authorization: Bearer` tokens: HS256 with the configured secret (at least 32
/// bytes, the size of the hash, as RFC 7518 asks).
///
/// Only HS256 is accepted (jwt-kit refuses a token whose `alg` names another algorithm, `none`
/// included); `exp` is required and checked. The role comes from the token alone.
struct Authenticator: Sendable {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var email: String
        var role: String
        var exp: ExpirationClaim
        var phoneNumber: String?

        enum CodingKeys: String, CodingKey {
            case sub, email, role, exp
            case phoneNumber = "phone_number"
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    let keys: JWTKeyCollection

    init(secret: String) async {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.keys = keys
    }

    /// The caller named by `header` (the whole Authorization value).
    /// - Throws: ``APIError`` 401 saying what is wrong with the token.
    func caller(fromAuthorization header: String) async throws(APIError) -> Caller {
        guard header.lowercased().hasPrefix("bearer ") else {
            throw APIError(.unauthorized, "unauthorized", "use 'Authorization: Bearer <token>'")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw APIError(.unauthorized, "token_expired", "the token has expired")
        } catch {
            throw APIError(.unauthorized, "invalid_token", "the token is not valid: it must be an HS256 JWT signed with this service's secret")
        }
        guard let userID = UUID(uuidString: claims.sub.value) else {
            throw APIError(.unauthorized, "invalid_token", "the token's sub must be a user UUID")
        }
        guard let role = Caller.Role(rawValue: claims.role) else {
            throw APIError(.unauthorized, "invalid_token", "the token's role must be user, admin or operator")
        }
        return Caller(userID: userID, email: claims.email, role: role, phone: claims.phoneNumber)
    }
}
