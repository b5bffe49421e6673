import BookingCore
import Foundation
import HTTPTypes
import JWTKit
import Logging

/// Verifies `Authorization: Bearer` tokens: HS256 with the configured secret (at least 32
/// bytes, the size of the hash, as RFC 7518 asks).
///
/// Only HS256 is accepted (jwt-kit refuses a token whose `alg` names another algorithm, `none`
/// included). `exp` is required, `nbf` honoured, both with the configured leeway; `iss` and
/// `aud` are checked when configured. The role comes from the token alone, and the contact
/// claims must be addresses the senders can use as they are (``ContactAddress``): they end up
/// in SMTP commands, mail headers and SMS requests.
struct Authenticator: Sendable {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var email: String
        var role: String
        var exp: ExpirationClaim
        var phoneNumber: String?
        var nbf: NotBeforeClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?

        enum CodingKeys: String, CodingKey {
            case sub, email, role, exp, nbf, iss, aud
            case phoneNumber = "phone_number"
        }

        /// The signature is all jwt-kit checks; ``Authenticator/caller(fromAuthorization:now:)``
        /// checks the claims with the configured leeway, issuer and audience.
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// What a token must say besides its signature.
    struct Expectations: Sendable {
        var issuer: String?
        var audience: String?
        var leeway: Duration = .seconds(30)
    }

    let keys: JWTKeyCollection
    let expectations: Expectations

    init(secret: String, expectations: Expectations = Expectations()) async {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.keys = keys
        self.expectations = expectations
    }

    /// The caller named by `header` (the whole Authorization value).
    /// - Throws: ``APIError`` 401 saying what is wrong with the token.
    func caller(fromAuthorization header: String, now: Date = Date()) async throws(APIError) -> Caller {
        guard header.lowercased().hasPrefix("bearer ") else {
            throw APIError(.unauthorized, "unauthorized", "use 'Authorization: Bearer <token>'")
        }
        let token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch {
            throw APIError(.unauthorized, "invalid_token", "the token is not valid: it must be an HS256 JWT signed with this service's secret")
        }
        return try Self.caller(from: claims, expectations: expectations, now: now)
    }

    /// Checks the claims of a token whose signature is good.
    static func caller(from claims: Claims, expectations: Expectations, now: Date) throws(APIError) -> Caller {
        let leeway = TimeInterval(expectations.leeway.components.seconds)
        if claims.exp.value.addingTimeInterval(leeway) <= now {
            throw APIError(.unauthorized, "token_expired", "the token has expired")
        }
        if let nbf = claims.nbf, nbf.value.addingTimeInterval(-leeway) > now {
            throw APIError(.unauthorized, "token_not_yet_valid", "the token is not valid before its nbf time")
        }
        if let issuer = expectations.issuer, claims.iss?.value != issuer {
            throw invalid("the token's iss must be \(issuer)")
        }
        if let audience = expectations.audience, !(claims.aud?.value.contains(audience) ?? false) {
            throw invalid("the token's aud must include \(audience)")
        }
        guard let userID = UUID(uuidString: claims.sub.value) else {
            throw invalid("the token's sub must be a user UUID")
        }
        guard let role = Caller.Role(rawValue: claims.role) else {
            throw invalid("the token's role must be user, admin or operator")
        }
        if let problem = ContactAddress.emailProblem(claims.email) {
            throw invalid("the token's email claim \(problem)")
        }
        if let phone = claims.phoneNumber, let problem = ContactAddress.phoneProblem(phone) {
            throw invalid("the token's phone_number claim \(problem)")
        }
        return Caller(userID: userID, email: claims.email, role: role, phone: claims.phoneNumber,
                      expiresAt: claims.exp.value.addingTimeInterval(leeway))
    }

    private static func invalid(_ message: String) -> APIError {
        APIError(.unauthorized, "invalid_claims", message)
    }
}
