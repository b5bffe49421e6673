import EventlyTestSupport
import Foundation
import Queue
import Testing
@testable import evently_jobs

/// Per-user and per-address rate limits, over HTTP and on their own.
@Suite(.serialized, .timeLimit(.minutes(5))) struct RateLimiterTests {
    @Test func rateLimitsAnswer429WithRetryAfter() async throws {
        try await DaemonHarness.withTokens({ $0.intake.rateLimitPerUser = 3 }) { (intake: DaemonHarness) async throws -> Void in
            let admin = try await TokenFactory.token(role: "admin")
            for _ in 0..<3 { #expect(try await intake.send("GET", "/v1/queues", token: admin).status == 200) }
            let limited = try await intake.send("GET", "/v1/queues", token: admin)
            #expect(limited.status == 429)
            #expect(limited.errorCode == "rate_limited")
            #expect(Int(limited.headers["retry-after"] ?? "") ?? 0 >= 1)
            // Another user is not affected.
            #expect(try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(role: "admin")).status == 200)
        }
    }

    @Test func perAddressLimitAndTrustedProxies() async throws {
        try await DaemonHarness.withTokens({ config in
            config.intake.rateLimitPerAddress = 2
            config.intake.trustedProxies = [AddressRange("127.0.0.1")!]
        }) { (intake: DaemonHarness) async throws -> Void in
            for _ in 0..<2 { #expect(try await intake.send("GET", "/v1/queues", headers: ["X-Forwarded-For": "203.0.113.7"]).status == 401) }
            #expect(try await intake.send("GET", "/v1/queues", headers: ["X-Forwarded-For": "203.0.113.7"]).status == 429)
            #expect(try await intake.send("GET", "/v1/queues", headers: ["X-Forwarded-For": "203.0.113.8"]).status == 401,
                    "a trusted proxy's forwarded address is the client")
            #expect(try await intake.send("GET", "/healthz", headers: ["X-Forwarded-For": "203.0.113.7"]).status == 200,
                    "health checks are never rate limited")
        }
    }

    @Test func rateLimiterRefillsOverTime() {
        let limiter = RateLimiter(perMinute: 60)
        let start = ContinuousClock.now
        for _ in 0..<60 { #expect(limiter.take("k", now: start) == nil) }
        #expect(limiter.take("k", now: start) == 1)
        #expect(limiter.take("k", now: start + .seconds(1)) == nil, "one token per second comes back")
        #expect(RateLimiter(perMinute: 0).take("k") == nil, "0 turns the limit off")
    }
}
