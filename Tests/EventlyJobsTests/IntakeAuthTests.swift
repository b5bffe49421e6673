import EventlyTestSupport
import Foundation
import JWTKit
import Logging
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Signs tokens like an identity provider would.
struct TokenFactory {
    static let secret = "test-secret-for-the-intake-0123456789"

    static func token(role: String = "user", sub: String = UUID().uuidString, expiresIn: TimeInterval = 3600,
                      phone: String? = nil, secret: String = TokenFactory.secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let claims = Authenticator.Claims(sub: .init(value: sub), email: "\(sub.prefix(8))@example.com", role: role,
                                          exp: .init(value: Date().addingTimeInterval(expiresIn)), phoneNumber: phone)
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

struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorField: String? { (json["error"] as? [String: Any])?["field"] as? String }
}

/// The tests' HTTP client. AsyncHTTPClient rather than URLSession: FoundationNetworking on
/// Linux deadlocks when a task awaiting a request is cancelled (seen here in a task group).
enum TestHTTP {
    /// Generous timeouts: a thousand requests queue for 64 connections on a loaded 2-core machine.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
        timeout: .init(connect: .seconds(120), read: .seconds(120)),
        connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)))
}

extension DaemonHarness {
    func send(_ method: String, _ path: String, token: String? = nil, json: String? = nil,
              contentType: String = "application/json", headers: [String: String] = [:]) async throws -> HTTPReply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = HTTPMethod(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.body = .bytes(ByteBuffer(string: json))
            request.headers.add(name: "Content-Type", value: contentType)
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(60))
        let body = try await response.body.collect(upTo: 16 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return HTTPReply(status: Int(response.status.code), headers: fields, body: String(buffer: body))
    }
}

@Suite(.serialized) struct IntakeAuthTests {
    func withIntake<T: Sendable>(_ configure: @escaping @Sendable (inout JobsConfig) -> Void = { _ in },
                                 _ body: (DaemonHarness) async throws -> T) async throws -> T {
        try await DaemonHarness.with(configure: { config in
            config.intake.jwtSecret = TokenFactory.secret
            configure(&config)
        }, body)
    }

    @Test func tokensAndRolesGateTheOperatorRoutes() async throws {
        try await withIntake { intake in
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

    @Test func enqueueOverHTTP() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let created = try await intake.send("POST", "/v1/jobs", token: admin,
                                                json: #"{"kind": "diag.sleep", "args": {"ms": 1}, "queue": "http", "priority": -2, "unique_key": "k-1"}"#)
            #expect(created.status == 201)
            let id = try #require(created.json["id"] as? Int)
            #expect(created.json["inserted"] as? Bool == true)
            let again = try await intake.send("POST", "/v1/jobs", token: admin, json: #"{"kind": "diag.sleep", "unique_key": "k-1"}"#)
            #expect(again.status == 200)
            #expect(again.json["id"] as? Int == id)
            #expect(again.json["inserted"] as? Bool == false)
            let shown = try await intake.send("GET", "/v1/jobs/\(id)", token: admin)
            #expect(shown.status == 200)
            #expect(shown.json["queue"] as? String == "http")
            #expect(shown.json["priority"] as? Int == -2)
            #expect(try await intake.send("POST", "/v1/jobs/999999/cancel", token: admin).status == 404)
            #expect(try await intake.send("POST", "/v1/jobs/\(id)/cancel", token: admin).status == 200)
            let twice = try await intake.send("POST", "/v1/jobs/\(id)/cancel", token: admin)
            #expect(twice.status == 409)
            #expect(twice.errorCode == "invalid_state")
        }
    }

    @Test func badInputIsA4xxWithAJSONErrorAndWritesNothing() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let cases: [(String, String, Int, String, String?)] = [
                (#"{"kind": "diag.noop""#, "application/json", 400, "malformed_json", nil),
                (#"[1, 2]"#, "application/json", 400, "malformed_json", nil),
                (#"{"kind": "diag.noop", "colour": "red"}"#, "application/json", 400, "unknown_field", "colour"),
                (#"{"kind": "diag.noop", "priority": "high"}"#, "application/json", 400, "invalid_field", "priority"),
                (#"{"kind": "diag.noop", "args": [1]}"#, "application/json", 400, "invalid_field", "args"),
                (#"{"args": {}}"#, "application/json", 400, "missing_field", "kind"),
                (#"{"kind": "diag.noop", "max_attempts": 0}"#, "application/json", 400, "invalid_request", "max_attempts"),
                (#"{"kind": "diag.noop"}"#, "text/plain", 415, "unsupported_media_type", nil),
                (#"{"kind": "diag.noop", "args": {"pad": "\#(String(repeating: "x", count: 70_000))"}}"#, "application/json", 413, "body_too_large", nil),
            ]
            for (body, contentType, status, code, field) in cases {
                let reply = try await intake.send("POST", "/v1/jobs", token: admin, json: body, contentType: contentType)
                #expect(reply.status == status, "\(body.prefix(60))")
                #expect(reply.errorCode == code, "\(body.prefix(60))")
                #expect(reply.errorField == field, "\(body.prefix(60))")
                #expect(reply.headers["content-type"]?.hasPrefix("application/json") == true)
            }
            let queues = try await intake.send("GET", "/v1/queues", token: admin)
            #expect(queues.body == "[]", "no job was written by any bad request")
            let missing = try await intake.send("GET", "/v1/nothing-here")
            #expect(missing.status == 404)
            #expect(missing.errorCode == "not_found")
        }
    }

    @Test func requestIDsAreReturnedAndEchoed() async throws {
        try await withIntake { intake in
            let plain = try await intake.send("GET", "/healthz")
            #expect(plain.headers["x-request-id"]?.count == 16)
            let echoed = try await intake.send("GET", "/v1/queues", headers: ["X-Request-Id": "trace-abc-123"])
            #expect(echoed.headers["x-request-id"] == "trace-abc-123")
            #expect(echoed.status == 401)
        }
    }

    @Test func rateLimitsAnswer429WithRetryAfter() async throws {
        try await withIntake({ $0.intake.rateLimitPerUser = 3 }) { (intake: DaemonHarness) async throws -> Void in
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
        try await withIntake({ config in
            config.intake.rateLimitPerAddress = 2
            config.intake.trustedProxies = ["127.0.0.1"]
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

    @Test func tokensAreRefusedWhenNoSecretIsConfigured() async throws {
        try await DaemonHarness.with { intake in
            let reply = try await intake.send("GET", "/v1/queues", token: try await TokenFactory.token(role: "admin"))
            #expect(reply.status == 401)
            #expect(reply.errorCode == "auth_not_configured")
        }
    }
}
