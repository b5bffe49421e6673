import EventlyTestSupport
import Foundation
import Queue
import Testing
@testable import evently_jobs

/// Bearer tokens and roles at the intake.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AuthenticatorTests {
    @Test func tokensAndRolesGateTheOperatorRoutes() async throws {
        try await DaemonHarness.withTokens { intake in
            #expect(try await intake.send("GET", "/v1/queues").status == 401)
            let expired = try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(role: "admin", expiresIn: -60))
            #expect(expired.status == 401)
            #expect(expired.errorCode == "token_expired")
            let forged = try await intake.send("GET", "/v1/queues",
                                               token: try await TokenFactory.token(role: "admin", secret: "another-secret-entirely-0123456789abcdef"))
            #expect(forged.status == 401)
            #expect(forged.errorCode == "invalid_token")
            #expect(try await intake.send("GET", "/v1/queues", token: TokenFactory.unsignedToken()).status == 401, "alg none is refused")
            #expect(try await intake.send("GET", "/v1/queues", token: "not.a.jwt").status == 401)
            #expect(try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(sub: "not-a-uuid")).status == 401)
            let user = try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(role: "user"))
            #expect(user.status == 403)
            #expect(user.errorCode == "forbidden")
            #expect(try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(role: "admin")).status == 200)
            #expect(try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(role: "operator")).status == 200)
        }
    }

    @Test func tokensAreRefusedWhenNoSecretIsConfigured() async throws {
        try await DaemonHarness.with { intake in
            let reply = try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(role: "admin"))
            #expect(reply.status == 401)
            #expect(reply.errorCode == "auth_not_configured")
        }
    }
}
