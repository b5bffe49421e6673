import EventlyTestSupport
import Foundation
import Testing
@testable import evently_jobs

/// Cross-origin requests: only configured origins, and none unless configured.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CORSOriginFilterTests {
    @Test func corsAllowsOnlyConfiguredOrigins() async throws {
        try await DaemonHarness.with(configure: { $0.intake.corsOrigins = ["https://app.evently.example"] }) { intake in
            let allowed = try await intake.send("GET", "/healthz", headers: ["Origin": "https://app.evently.example"])
            #expect(allowed.status == 200)
            #expect(allowed.headers["access-control-allow-origin"] == "https://app.evently.example")
            let refused = try await intake.send("GET", "/healthz", headers: ["Origin": "https://evil.example"])
            #expect(refused.status == 403)
            #expect(refused.errorCode == "origin_not_allowed")
        }
        try await DaemonHarness.with { intake in
            let none = try await intake.send("GET", "/healthz", headers: ["Origin": "https://app.evently.example"])
            #expect(none.headers["access-control-allow-origin"] == nil, "no CORS unless configured")
        }
    }
}
