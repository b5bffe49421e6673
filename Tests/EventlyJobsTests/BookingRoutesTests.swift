import EventlyTestSupport
import Foundation
import Testing
@testable import evently_jobs

/// The booking routes over real HTTP against the real database.
@Suite(.serialized, .timeLimit(.minutes(5))) struct BookingRoutesTests {
    func withIntake<T: Sendable>(_ body: (DaemonHarness) async throws -> T) async throws -> T {
        try await DaemonHarness.with(configure: { config in
            config.intake.jwtSecret = TokenFactory.secret
            config.intake.rateLimitPerUser = 0
            config.intake.rateLimitPerAddress = 0
            config.database.poolSize = 24
            // These tests are about seat counts under real concurrency: 1,000 requests on a
            // loaded 2-core machine wait long for a connection, and giving up early (the 503 of
            // DatabaseOutageTests) is not what they measure.
            // (Under the test client's own 60 s, so that a request shed by it is a 503, not a hang.)
            config.intake.databaseTimeout = .seconds(45)
        }, body)
    }

    func createEvent(_ intake: DaemonHarness, admin: String, capacity: Int, price: String = "20.00",
                     mode: String = "offer") async throws -> String {
        let reply = try await intake.send("POST", "/v1/events", token: admin, json: """
            {"name": "Concert", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": \(capacity),
             "price": "\(price)", "waitlist_mode": "\(mode)"}
            """)
        #expect(reply.status == 201, "\(reply.body)")
        return try #require(reply.json["id"] as? String)
    }

    func book(_ intake: DaemonHarness, token: String, event: String, quantity: Int, key: String = UUID().uuidString) async throws -> HTTPReply {
        // A thousand requests queue for 64 client connections on a busy 2-core machine: the
        // client's own deadline (which counts that queueing) must not be what fails the test.
        try await intake.send("POST", "/v1/bookings", token: token, json: #"{"event_id": "\#(event)", "quantity": \#(quantity)}"#,
                              headers: ["Idempotency-Key": key], timeout: .seconds(240))
    }

    @Test func aThousandConcurrentRequestsNeverOversell() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let event = try await createEvent(intake, admin: admin, capacity: 100)
            var tokens: [String] = []
            for _ in 0..<50 { tokens.append(try await TokenFactory.token()) }
            let replies = try await withThrowingTaskGroup(of: (status: Int, seats: Int, retryAfter: String?).self) { group in
                for index in 0..<1_000 {
                    let quantity = index % 4 + 1
                    let token = tokens[index % tokens.count]
                    group.addTask {
                        let reply = try await book(intake, token: token, event: event, quantity: quantity)
                        return (reply.status, reply.status == 201 ? quantity : 0, reply.headers["retry-after"])
                    }
                }
                return try await group.reduce(into: [(status: Int, seats: Int, retryAfter: String?)]()) { $0.append($1) }
            }
            let confirmedSeats = replies.map(\.seats).reduce(0, +)
            #expect(confirmedSeats == 100, "exactly the capacity is sold")
            // 201 or sold out; or, when the hot event's row lock is queued past the 2 s
            // lock_timeout (a 2-core machine running the whole suite), the documented 503 with
            // Retry-After, which books nothing.
            #expect(replies.allSatisfy { $0.status == 201 || $0.status == 409 || ($0.status == 503 && $0.retryAfter != nil) },
                    "statuses: \(Set(replies.map(\.status)))")
            let shed = replies.filter { $0.status == 503 }.count
            #expect(shed < 250, "load shedding stays the exception: \(shed) of 1,000")
            let shown = try await intake.send("GET", "/v1/events/\(event)", token: admin)
            #expect(shown.json["available_seats"] as? Int == 0)
            // Each seat update raises the version once: fewer steps than bookings means bookings
            // that arrived together were committed together (booking.combine_max).
            let confirmed = replies.filter { $0.status == 201 }.count
            let steps = try #require(shown.json["version"] as? Int) - 1
            #expect(steps < confirmed, "\(confirmed) bookings in \(steps) seat updates")
        }
    }

    @Test func concurrentCancellationsKeepSeatsBalanced() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let event = try await createEvent(intake, admin: admin, capacity: 60)
            let user = try await TokenFactory.token()
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        let reply = try await book(intake, token: user, event: event, quantity: index % 3 + 1)
                        // 409 sold out, or the documented 503 + Retry-After when the hot row's
                        // lock_timeout passes on a loaded machine: both book nothing.
                        if reply.status == 409 || (reply.status == 503 && reply.headers["retry-after"] != nil) { return 0 }
                        guard reply.status == 201, let id = reply.json["id"] as? String else { return -1 }
                        guard index % 2 == 0 else { return index % 3 + 1 }
                        // A busy cancellation changed nothing; a client retries it, as told.
                        for _ in 0..<20 {
                            let cancelled = try await intake.send("POST", "/v1/bookings/\(id)/cancel", token: user)
                            if cancelled.status == 200 { return 0 }
                            guard cancelled.status == 503, cancelled.headers["retry-after"] != nil else { return -1 }
                            try await Task.sleep(for: .milliseconds(200))
                        }
                        return -1
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(!results.contains(-1), "no unexpected status")
            let held = results.reduce(0, +)
            let shown = try await intake.send("GET", "/v1/events/\(event)", token: admin)
            #expect(shown.json["available_seats"] as? Int == 60 - held, "confirmed + available = capacity")
        }
    }

    @Test func oneIdempotencyKeyBooksOnce() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let event = try await createEvent(intake, admin: admin, capacity: 500)
            let user = try await TokenFactory.token()
            let key = UUID().uuidString
            let replies = try await withThrowingTaskGroup(of: HTTPReply.self) { group in
                for _ in 0..<50 {
                    group.addTask { try await book(intake, token: user, event: event, quantity: 2, key: key) }
                }
                return try await group.reduce(into: [HTTPReply]()) { $0.append($1) }
            }
            let ids = Set(replies.filter { $0.status == 201 }.compactMap { $0.json["id"] as? String })
            #expect(ids.count == 1, "every success is the same booking")
            #expect(replies.allSatisfy { $0.status == 201 || ($0.status == 409 && $0.errorCode == "idempotency_key_in_flight") },
                    "\(replies.map { "\($0.status) \($0.errorCode ?? "")" })")
            let mine = try await intake.send("GET", "/v1/bookings", token: user)
            #expect((try JSONSerialization.jsonObject(with: Data(mine.body.utf8)) as? [Any])?.count == 1)
            let replay = try await book(intake, token: user, event: event, quantity: 2, key: key)
            #expect(replay.status == 201)
            #expect(replay.json["id"] as? String == ids.first)
            #expect(replay.headers["idempotent-replayed"] == "true")
            let otherBody = try await book(intake, token: user, event: event, quantity: 3, key: key)
            #expect(otherBody.status == 422)
            #expect(try await intake.send("POST", "/v1/bookings", token: user, json: #"{"event_id": "\#(event)", "quantity": 1}"#).status == 400,
                    "no Idempotency-Key")
        }
    }

    @Test func priceIsFixedIntoTheBookingAndEventsFollowTheirRules() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let event = try await createEvent(intake, admin: admin, capacity: 4, price: "10.00")
            let user = try await TokenFactory.token()
            let first = try await book(intake, token: user, event: event, quantity: 2)
            #expect(first.json["total_amount"] as? String == "20.00", "the first half sells at the base price")
            #expect(first.json["reference"].flatMap { $0 as? String }.map { $0.range(of: #"^EVT[0-9]{14}$"#, options: .regularExpression) != nil } == true)
            let shown = try await intake.send("GET", "/v1/events/\(event)", token: user)
            #expect(shown.json["current_price"] as? String == "12.50", "the third of four seats is in the 0.8 tier: 1.25 × base")
            let etag = try #require(shown.headers["etag"])

            #expect(try await intake.send("PATCH", "/v1/events/\(event)", token: user, json: #"{"name": "x"}"#).status == 403)
            #expect(try await intake.send("PATCH", "/v1/events/\(event)", token: admin, json: #"{"name": "x"}"#).status == 428)
            let renamed = try await intake.send("PATCH", "/v1/events/\(event)", token: admin, json: #"{"name": "Renamed"}"#,
                                                headers: ["If-Match": etag])
            #expect(renamed.status == 200)
            #expect(renamed.json["name"] as? String == "Renamed")
            let stale = try await intake.send("PATCH", "/v1/events/\(event)", token: admin, json: #"{"name": "Again"}"#,
                                              headers: ["If-Match": etag])
            #expect(stale.status == 412)

            let bookingID = try #require(first.json["id"] as? String)
            let stranger = try await TokenFactory.token()
            #expect(try await intake.send("GET", "/v1/bookings/\(bookingID)", token: stranger).status == 404)
            #expect(try await intake.send("POST", "/v1/bookings/\(bookingID)/cancel", token: stranger).status == 404)
            #expect(try await intake.send("POST", "/v1/events", token: user, json: "{}").status == 403)
            for quantity in [0, -1, 11] {
                let reply = try await book(intake, token: user, event: event, quantity: quantity)
                #expect(reply.status == 400)
                #expect(reply.errorField == "quantity")
            }
            #expect(try await book(intake, token: user, event: UUID().uuidString, quantity: 1).status == 404)
            let cancelled = try await intake.send("POST", "/v1/events/\(event)/cancel", token: admin)
            #expect(cancelled.json["status"] as? String == "cancelled")
            let mine = try await intake.send("GET", "/v1/bookings/\(bookingID)", token: user)
            #expect(mine.json["status"] as? String == "cancelled")
            // The daemon's notifications.dispatch jobs store them just after each commit.
            var templates: [String] = []
            for _ in 0..<200 {
                let notices = try await intake.send("GET", "/v1/notifications", token: user)
                templates = ((try JSONSerialization.jsonObject(with: Data(notices.body.utf8)) as? [[String: Any]]) ?? [])
                    .compactMap { $0["template"] as? String }
                if templates.contains("booking_confirmed") && templates.contains("event_cancelled") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(templates.contains("booking_confirmed"))
            #expect(templates.contains("event_cancelled"))
        }
    }

    @Test func cancellationOffersTheSeatsToTheWaitlist() async throws {
        try await withIntake { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let event = try await createEvent(intake, admin: admin, capacity: 2)
            let holder = try await TokenFactory.token()
            let waiting = try await TokenFactory.token()
            let booked = try await book(intake, token: holder, event: event, quantity: 2)
            #expect(booked.status == 201)
            #expect(try await book(intake, token: waiting, event: event, quantity: 1).errorCode == "sold_out")
            let joined = try await intake.send("POST", "/v1/events/\(event)/waitlist", token: waiting, json: #"{"quantity": 2}"#)
            #expect(joined.status == 201, "\(joined.body)")
            #expect(joined.json["position"] as? Int == 1)

            let bookingID = try #require(booked.json["id"] as? String)
            #expect(try await intake.send("POST", "/v1/bookings/\(bookingID)/cancel", token: holder).status == 200)
            // The daemon's waitlist.promote job makes the offer.
            var entry = HTTPReply(status: 0, headers: [:], body: "")
            for _ in 0..<200 {
                entry = try await intake.send("GET", "/v1/events/\(event)/waitlist/me", token: waiting)
                if entry.json["status"] as? String == "offered" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(entry.json["status"] as? String == "offered")
            #expect(entry.json["offered_seats"] as? Int == 2)
            let offerID = try #require(entry.json["id"] as? String)
            let accepted = try await intake.send("POST", "/v1/waitlist/offers/\(offerID)/accept", token: waiting)
            #expect(accepted.status == 201, "\(accepted.body)")
            #expect(accepted.json["quantity"] as? Int == 2)
            let shown = try await intake.send("GET", "/v1/events/\(event)", token: admin)
            #expect(shown.json["available_seats"] as? Int == 0, "the held seats became the booking")
        }
    }
}

