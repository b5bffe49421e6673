import EventlyTestSupport
import Foundation
import Queue
import Testing
@testable import evently_jobs

/// `/v1/jobs` over real HTTP.
@Suite(.serialized, .timeLimit(.minutes(5))) struct JobRoutesTests {
    @Test func enqueueOverHTTP() async throws {
        try await DaemonHarness.withTokens { intake in
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
        try await DaemonHarness.withTokens { intake in
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
}
