import EventlyTestSupport
import Foundation
import Queue
import Testing
@testable import evently_jobs

/// `/healthz`, `/readyz` and `/metrics`.
@Suite(.serialized, .timeLimit(.minutes(5))) struct HealthRoutesTests {
    @Test func healthAndMetricsAnswer() async throws {
        try await DaemonHarness.with { daemon in
            let health = try await daemon.get("/healthz")
            #expect(health.status == 200)
            #expect(health.body.contains("\"ok\""))
            let metrics = try await daemon.get("/metrics")
            #expect(metrics.status == 200)
        }
    }

    @Test func readinessFollowsTheDatabase() async throws {
        try await DaemonHarness.with { daemon in
            #expect(try await daemon.get("/readyz").status == 200)

            try daemon.cluster.stop()
            // The answer is cached for a second (one database round trip a second at most).
            var down = try await daemon.get("/readyz")
            for _ in 0..<50 where down.status != 503 {
                try await Task.sleep(for: .milliseconds(100))
                down = try await daemon.get("/readyz")
            }
            #expect(down.status == 503)
            #expect(down.body.contains("database unreachable"))

            try await daemon.cluster.start()
            var status = 0
            for _ in 0..<50 where status != 200 {
                status = try await daemon.get("/readyz").status
                if status != 200 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(status == 200, "ready again once the database is back")
        }
    }
}
