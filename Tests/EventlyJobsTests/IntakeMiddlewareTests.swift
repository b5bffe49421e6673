import EventlyTestSupport
import Foundation
import Queue
import Testing
@testable import evently_jobs

/// Request ids: made when missing, echoed when sent.
@Suite(.serialized, .timeLimit(.minutes(5))) struct IntakeMiddlewareTests {
    @Test func requestIDsAreReturnedAndEchoed() async throws {
        try await DaemonHarness.withTokens { intake in
            let plain = try await intake.send("GET", "/healthz")
            #expect(plain.headers["x-request-id"]?.count == 16)
            let echoed = try await intake.send("GET", "/v1/queues", headers: ["X-Request-Id": "trace-abc-123"])
            #expect(echoed.headers["x-request-id"] == "trace-abc-123")
            #expect(echoed.status == 401)
        }
    }
}
