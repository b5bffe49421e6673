import ArgumentParser
import BookingCore
import Foundation
import JWTKit

/// `evently-jobs token`: mints a bearer token with the configured secret, for trying the
/// intake with curl and for scripts. Real deployments get tokens from their identity provider.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Print a bearer token signed with auth.jwt_secret (EVENTLY_JWT_SECRET).",
        discussion: """
            The secret comes from the configuration (auth.jwt_secret or EVENTLY_JWT_SECRET); make one with
            `openssl rand -hex 32`. With auth.issuer / auth.audience configured, the token carries them.
            Example: evently-jobs token --role user --email ann@example.org --ttl 2h
            """)

    @OptionGroup var options: ConfigOptions

    @Option(help: "The user's UUID (the token's sub). Default: a new one, printed on standard error.")
    var sub: String?

    @Option(help: "user, admin or operator.")
    var role: String = "user"

    @Option(help: "The user's email address (where their email notifications go). Default: <first 8 of sub>@example.invalid.")
    var email: String?

    @Option(help: "The user's phone number in E.164 (+447700900123), for SMS.")
    var phone: String?

    @Option(help: "How long the token is valid: 30s, 15m, 2h, 7d.")
    var ttl: String = "1h"

    func run() async throws {
        let config = try options.load()
        let secret = try Self.secret(of: config, path: options.config)
        let userID: UUID
        if let sub {
            guard let given = UUID(uuidString: sub) else { throw ValidationError("--sub must be a UUID") }
            userID = given
        } else {
            userID = UUID()
            FileHandle.standardError.write(Data("sub: \(userID.uuidString.lowercased())\n".utf8))
        }
        guard Caller.Role(rawValue: role) != nil else { throw ValidationError("--role must be user, admin or operator") }
        guard let lifetime = ConfValue.parseDuration(ttl), lifetime > .zero else {
            throw ValidationError("--ttl must be a duration such as 30s, 15m, 2h or 7d")
        }
        let email = self.email ?? "\(userID.uuidString.lowercased().prefix(8))@example.invalid"
        if let problem = ContactAddress.emailProblem(email) { throw ValidationError("--email \(problem)") }
        if let phone, let problem = ContactAddress.phoneProblem(phone) { throw ValidationError("--phone \(problem)") }

        print(try await Self.sign(secret: secret, intake: config.intake, userID: userID, role: role, email: email,
                                  phone: phone, lifetime: lifetime))
    }

    /// The configured signing secret, or a message saying where to set one.
    static func secret(of config: JobsConfig, path: String) throws -> String {
        guard let secret = config.intake.jwtSecret else {
            throw CommandFailure(message: "no secret configured: set auth.jwt_secret in \(path) or EVENTLY_JWT_SECRET (make one with `openssl rand -hex 32`)")
        }
        return secret
    }

    /// A token for `userID` signed with `secret`, carrying the configured issuer and audience.
    static func sign(secret: String, intake: JobsConfig.Intake, userID: UUID, role: String, email: String,
                     phone: String? = nil, lifetime: Duration) async throws -> String {
        let claims = Authenticator.Claims(
            sub: .init(value: userID.uuidString.lowercased()), email: email, role: role,
            exp: .init(value: Date().addingTimeInterval(TimeInterval(lifetime.components.seconds))), phoneNumber: phone,
            nbf: nil, iss: intake.issuer.map { .init(value: $0) }, aud: intake.audience.map { .init(value: [$0]) })
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }
}
