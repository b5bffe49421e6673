import BookingCore
import EventlyTestSupport
import Foundation
import Queue
import Testing
import Workers
@testable import evently_jobs

/// Issue 12, part A, over real HTTP: bounds on every input (a 4xx naming the field, nothing
/// written), the domain rules (no cancelling once an event started, `If-Match: *`, ended events
/// completed by a job), and cursor paging of lists.
@Suite(.serialized, .timeLimit(.minutes(5))) struct InputBoundsTests {
    func withIntake<T: Sendable>(_ body: (DaemonHarness) async throws -> T) async throws -> T {
        try await DaemonHarness.withTokens({ config in
            config.intake.rateLimitPerUser = 0
            config.intake.rateLimitPerAddress = 0
        }, body)
    }

    func eventJSON(name: String = "Harbour Lights", startsAt: String = "2030-06-01T19:00:00Z", capacity: Int = 10,
                   price: String = "20.00") -> String {
        #"{"name": "\#(name)", "venue": "Pier 4", "starts_at": "\#(startsAt)", "capacity": \#(capacity), "price": "\#(price)"}"#
    }

    @Test func outOfBoundsInputIsA400NamingTheFieldAndWritesNothing() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let long = String(repeating: "q", count: 20_000)
            let cases: [(path: String, body: String, code: String, field: String)] = [
                ("/v1/events", eventJSON(name: #"Harbour\u0000Lights"#), "invalid_field", "name"),
                ("/v1/events", eventJSON(name: #"Harbour\nBcc: x@example.com"#), "invalid_request", "name"),
                ("/v1/events", eventJSON(name: String(repeating: "n", count: 501)), "invalid_request", "name"),
                ("/v1/events", eventJSON(startsAt: "99999-01-01T00:00:00Z"), "", "starts_at"),
                ("/v1/events", eventJSON(startsAt: "2201-01-01T00:00:00Z"), "invalid_request", "starts_at"),
                ("/v1/events", eventJSON(startsAt: "1970-01-01T00:00:00Z"), "invalid_request", "starts_at"),
                ("/v1/events", eventJSON(capacity: 1 << 40), "invalid_request", "capacity"),
                ("/v1/events", eventJSON(price: "9999999999.99"), "invalid_request", "price"),
                ("/v1/events", #"{"name": "A", "name": "B", "venue": "V", "starts_at": "2030-06-01T19:00:00Z", "capacity": 1, "price": "1.00"}"#,
                 "duplicate_key", "name"),
                ("/v1/jobs", #"{"kind": "diag.noop", "priority": 1099511627776}"#, "invalid_request", "priority"),
                ("/v1/jobs", #"{"kind": "diag.noop", "queue": "\#(long)"}"#, "invalid_request", "queue"),
                ("/v1/jobs", #"{"kind": "diag.noop", "queue": "Has Spaces"}"#, "invalid_request", "queue"),
                ("/v1/jobs", #"{"kind": "diag\u0000noop"}"#, "invalid_field", "kind"),
                ("/v1/jobs", #"{"kind": "diag.noop", "unique_key": "\#(long)"}"#, "invalid_request", "unique_key"),
                ("/v1/jobs", #"{"kind": "diag.noop", "max_attempts": 1000000}"#, "invalid_request", "max_attempts"),
                ("/v1/jobs", #"{"kind": "diag.noop", "run_at": "99999-01-01T00:00:00Z"}"#, "", "run_at"),
                ("/v1/jobs", #"{"kind": "diag.noop", "args": {"a": "x\u0000y"}}"#, "invalid_field", "args.a"),
                ("/v1/jobs", #"{"kind": "diag.noop", "args": {"ms": 1, "ms": 2}}"#, "duplicate_key", "args.ms"),
            ]
            for (path, body, code, field) in cases {
                let reply = try await intake.send("POST", path, token: admin, json: body)
                #expect(reply.status == 400, "\(body.prefix(80)): \(reply.body.prefix(200))")
                if !code.isEmpty { #expect(reply.errorCode == code, "\(body.prefix(80)): \(reply.body.prefix(200))") }
                #expect(reply.errorField == field, "\(body.prefix(80)): \(reply.body.prefix(200))")
            }

            // Booking: the same key twice in the body, and an Idempotency-Key over 200 characters.
            let event = try await intake.send("POST", "/v1/events", token: admin, json: eventJSON())
            let eventID = try #require(event.json["id"] as? String)
            let user = try await TokenFactory.token()
            let twice = try await intake.send("POST", "/v1/bookings", token: user,
                                              json: #"{"event_id": "\#(eventID)", "quantity": 1, "quantity": 5}"#,
                                              headers: ["Idempotency-Key": UUID().uuidString])
            #expect(twice.status == 400)
            #expect(twice.errorCode == "duplicate_key")
            #expect(twice.errorField == "quantity")
            let badKey = try await intake.send("POST", "/v1/bookings", token: user, json: #"{"event_id": "\#(eventID)", "quantity": 1}"#,
                                               headers: ["Idempotency-Key": String(repeating: "k", count: 201)])
            #expect(badKey.status == 400)
            #expect(badKey.errorField == "Idempotency-Key")

            // A 70 kB header: 431 with the JSON error body, before the token is even read.
            let header = try await intake.send("GET", "/v1/events", token: admin, headers: ["X-Padding": String(repeating: "p", count: 70_000)])
            #expect(header.status == 431)
            #expect(header.errorCode == "headers_too_large")
            #expect(header.headers["x-request-id"] != nil)

            // Query parameters and path parameters.
            for path in ["/v1/events?limit=0", "/v1/events?limit=201", "/v1/events?cursor=bm9wZQ", "/v1/analytics/bookings?from=99999-01-01T00:00:00Z",
                         "/v1/analytics/bookings?from=1900-01-01T00:00:00Z", "/v1/jobs/-1", "/v1/jobs/99999999999999999999999"] {
                let reply = try await intake.send("GET", path, token: admin)
                #expect(reply.status == 400, "\(path): \(reply.body)")
                #expect(reply.errorField != nil, "\(path): \(reply.body)")
            }

            // Nothing of the refused requests was written: one event (the good one), no jobs, no booking.
            let events = try await intake.send("GET", "/v1/events", token: admin)
            #expect((try JSONSerialization.jsonObject(with: Data(events.body.utf8)) as? [Any])?.count == 1)
            #expect(try await intake.send("GET", "/v1/queues", token: admin).body == "[]")
            #expect(try await intake.send("GET", "/v1/bookings", token: user).body == "[]")
        }
    }

    @Test(arguments: [
        (#"{"a": 1, "b": {"a": 2}, "c": [{"a": 1}, {"a": 2}]}"#, nil),
        (#"{"a": 1, "a": 2}"#, "a"),
        (#"{"a": 1, "\u0061": 2}"#, "a"),
        (#"{"x": "\"a\": 1, \"a\"", "a": 1}"#, nil),
        (#"{"args": {"list": [1, {"k": 1, "k": 2}]}}"#, "args.list.k"),
        (#"{"a": {"b": 1}, "c": {"b": 1, "b": 2}}"#, "c.b"),
    ] as [(String, String?)])
    func duplicateKeysAreFoundWhereverTheyAre(json: String, duplicate: String?) {
        #expect(DuplicateKeyScanner.firstDuplicate(in: Data(json.utf8)) == duplicate)
    }

    /// The bounds the OpenAPI document states are the ones the server enforces.
    @Test func theDocumentStatesTheLimits() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(PackageResources.openapi_json)) as? [String: Any])
        let schemas = try #require((document["components"] as? [String: Any])?["schemas"] as? [String: [String: Any]])
        func property(_ schema: String, _ name: String) -> [String: Any] {
            ((schemas[schema]?["properties"] as? [String: Any])?[name] as? [String: Any]) ?? [:]
        }
        #expect(property("NewJob", "kind")["pattern"] as? String == InputLimits.identifierPattern)
        #expect(property("NewJob", "queue")["pattern"] as? String == InputLimits.identifierPattern)
        #expect(property("NewJob", "priority")["maximum"] as? Int == InputLimits.priority.upperBound)
        #expect(property("NewJob", "priority")["minimum"] as? Int == InputLimits.priority.lowerBound)
        #expect(property("NewJob", "max_attempts")["maximum"] as? Int == InputLimits.maxAttempts.upperBound)
        #expect(property("NewJob", "unique_key")["maxLength"] as? Int == InputLimits.uniqueKeyMaxLength)
        for schema in ["NewEvent", "EventChanges"] {
            #expect(property(schema, "name")["maxLength"] as? Int == InputLimits.nameMaxLength)
            #expect(property(schema, "venue")["maxLength"] as? Int == InputLimits.nameMaxLength)
            #expect(property(schema, "capacity")["maximum"] as? Int == InputLimits.capacity.upperBound)
        }
        let paths = try #require(document["paths"] as? [String: [String: [String: Any]]])
        for path in ["/v1/events", "/v1/bookings", "/v1/notifications", "/v1/reports", "/v1/queues",
                     "/v1/analytics/utilisation", "/v1/analytics/waitlists", "/v1/analytics/top-events"] {
            let parameters = paths[path]?["get"]?["parameters"] as? [[String: Any]] ?? []
            let names = Set(parameters.compactMap { $0["name"] as? String })
            #expect(names.isSuperset(of: ["limit", "cursor"]), "\(path)")
            let limit = parameters.first { $0["name"] as? String == "limit" }?["schema"] as? [String: Any]
            #expect((limit?["maximum"] as? Int ?? 0) <= InputLimits.pageSize.upperBound, "\(path)")
        }
    }

    @Test func cursorsRoundTripAndForgeriesAreRefused() {
        for offset in [0, 1, 200, Page.maximumOffset] { #expect(Page.decode(cursor: Page.encode(offset: offset)) == offset) }
        for forged in ["", "bzEw=", "bzAx", "x", Page.encode(offset: Page.maximumOffset) + "A", String(repeating: "A", count: 300)] {
            #expect(Page.decode(cursor: forged) == nil, "\(forged)")
        }
    }

    @Test func theLargestAllowedPriceFitsTheLargestBooking() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            // 10 seats (booking.max_quantity) at the top tier (x1.5) of 666,666,666.66 fit numeric(12,2).
            let maximum = InputLimits.maximumPrice(maxQuantity: 10, pricing: .standard)
            #expect(maximum == Decimal(string: "666666666.66"))
            let refused = try await intake.send("POST", "/v1/events", token: admin, json: eventJSON(price: "666666666.67"))
            #expect(refused.status == 400)
            #expect(refused.errorField == "price")
            let event = try await intake.send("POST", "/v1/events", token: admin, json: eventJSON(capacity: 2, price: "666666666.66"))
            let eventID = try #require(event.json["id"] as? String, "\(event.body)")
            let booked = try await intake.send("POST", "/v1/bookings", token: try await TokenFactory.token(),
                                               json: #"{"event_id": "\#(eventID)", "quantity": 2}"#,
                                               headers: ["Idempotency-Key": UUID().uuidString])
            #expect(booked.status == 201, "\(booked.body)")
            // Seat 1 at the base price, seat 2 at the second tier (x1.25): 666,666,666.66 + 833,333,333.33.
            #expect(booked.json["total_amount"] as? String == "1499999999.99")
        }
    }

    @Test func domainRules() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let user = try await TokenFactory.token()
            let created = try await intake.send("POST", "/v1/events", token: admin, json: eventJSON())
            let eventID = try #require(created.json["id"] as? String)
            let booking = try await intake.send("POST", "/v1/bookings", token: user, json: #"{"event_id": "\#(eventID)", "quantity": 1}"#,
                                                headers: ["Idempotency-Key": UUID().uuidString])
            let bookingID = try #require(booking.json["id"] as? String)

            // If-Match: * changes whatever version the event is at.
            let started = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-7 * 3_600))
            let patched = try await intake.send("PATCH", "/v1/events/\(eventID)", token: admin,
                                                json: #"{"starts_at": "\#(started)"}"#, headers: ["If-Match": "*"])
            #expect(patched.status == 200, "\(patched.body)")
            #expect(try await intake.send("PATCH", "/v1/events/\(eventID)", token: admin, json: #"{"name": "X"}"#,
                                          headers: ["If-Match": "\"1\""]).status == 412)

            // The event has started: its bookings can no longer be cancelled.
            let cancel = try await intake.send("POST", "/v1/bookings/\(bookingID)/cancel", token: user)
            #expect(cancel.status == 409)
            #expect(cancel.errorCode == "event_already_started")
            let still = try await intake.send("GET", "/v1/bookings/\(bookingID)", token: user)
            #expect(still.json["status"] as? String == "confirmed")

            // events.complete (scheduled in jobs.conf) marks it completed; a future event stays active.
            let future = try await intake.send("POST", "/v1/events", token: admin, json: eventJSON())
            let futureID = try #require(future.json["id"] as? String)
            _ = try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
                try await JobClient(client: client, logger: TestDatabase.logger).enqueue(EventCompletionWorker.Payload())
            }
            var status = ""
            for _ in 0..<200 where status != "completed" {
                status = try await intake.send("GET", "/v1/events/\(eventID)", token: admin).json["status"] as? String ?? ""
                if status != "completed" { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(status == "completed")
            #expect(try await intake.send("GET", "/v1/events/\(futureID)", token: admin).json["status"] as? String == "active")
            let shipped = try String(contentsOfFile: "jobs.conf", encoding: .utf8)
            #expect(shipped.contains(#"kind = "events.complete""#))
        }
    }

    @Test func listsArePagedWithACursor() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            var created: Set<String> = []
            for index in 0..<5 {
                let reply = try await intake.send("POST", "/v1/events", token: admin, json: eventJSON(name: "Event \(index)"))
                created.insert(try #require(reply.json["id"] as? String))
            }
            var seen: [String] = []
            var path: String? = "/v1/events?limit=2"
            var pages = 0
            while let next = path {
                let reply = try await intake.send("GET", next, token: admin)
                #expect(reply.status == 200, "\(reply.body)")
                let rows = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [[String: Any]])
                seen += rows.compactMap { $0["id"] as? String }
                pages += 1
                if let cursor = reply.headers["x-next-cursor"] {
                    #expect(reply.headers["link"] == "</v1/events?limit=2&cursor=\(cursor)>; rel=\"next\"")
                    path = "/v1/events?limit=2&cursor=\(cursor)"
                } else {
                    path = nil
                }
            }
            #expect(pages == 3)
            #expect(seen.count == 5)
            #expect(Set(seen) == created)
            // Admin lists too.
            for list in ["/v1/analytics/utilisation?limit=2", "/v1/reports?limit=2", "/v1/queues?limit=2",
                         "/v1/analytics/top-events?limit=2", "/v1/analytics/waitlists?limit=2", "/v1/notifications?limit=2",
                         "/v1/bookings?limit=2"] {
                #expect(try await intake.send("GET", list, token: admin).status == 200, "\(list)")
            }
            let first = try await intake.send("GET", "/v1/analytics/utilisation?limit=2", token: admin)
            #expect(first.headers["x-next-cursor"] != nil)
        }
    }
}
