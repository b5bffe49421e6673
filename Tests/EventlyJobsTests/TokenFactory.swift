import Foundation
import JWTKit
@testable import evently_jobs

/// Signs tokens like an identity provider would.
struct TokenFactory {
    static let secret = "test-secret-for-the-intake-0123456789"

    static func token(role: String = "user", sub: String = UUID().uuidString, expiresIn: TimeInterval = 3600,
                      phone: String? = nil, email: String? = nil, issuer: String? = nil, audience: [String]? = nil,
                      notBefore: Date? = nil, secret: String = TokenFactory.secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let claims = Authenticator.Claims(sub: .init(value: sub), email: email ?? "\(sub.prefix(8))@example.com", role: role,
                                          exp: .init(value: Date().addingTimeInterval(expiresIn)), phoneNumber: phone,
                                          nbf: notBefore.map { .init(value: $0) }, iss: issuer.map { .init(value: $0) },
                                          aud: audience.map { .init(value: $0) })
        return try await keys.sign(claims)
    }

    /// A token with `alg: none` and no signature, as an attacker would send.
    static func unsignedToken(role: String = "admin") -> String {
        func base64URL(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let payload = #"{"sub":"\#(UUID().uuidString)","email":"x@example.com","role":"\#(role)","exp":\#(Int(Date().timeIntervalSince1970) + 3600)}"#
        return base64URL(#"{"alg":"none","typ":"JWT"}"#) + "." + base64URL(payload) + "."
    }
}
