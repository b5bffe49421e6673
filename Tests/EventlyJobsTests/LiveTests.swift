import BookingCore
import EventlyTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import Logging
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// Live updates over real WebSocket and SSE clients against real daemons and PostgreSQL: what
/// reaches whom, across daemons, after a reconnect, and what happens to slow, late or unwelcome
/// clients.
@Suite(.serialized, .timeLimit(.minutes(5))) struct LiveTests {
    static let logger = Logger(label: "live-tests")

    static func withIntake<T: Sendable>(_ configure: @escaping @Sendable (inout JobsConfig) -> Void = { _ in },
                                        _ body: (DaemonHarness) async throws -> T) async throws -> T {
        try await DaemonHarness.withTokens({ config in
            config.intake.rateLimitPerUser = 0
            config.intake.rateLimitPerAddress = 0
            configure(&config)
        }, body)
    }

    static func createEvent(_ intake: DaemonHarness, capacity: Int) async throws -> String {
        let admin = try await TokenFactory.token(role: "admin")
        let reply = try await intake.send("POST", "/v1/events", token: admin, json: """
            {"name": "Live Show", "venue": "Hall", "starts_at": "2030-06-01T19:00:00Z", "capacity": \(capacity), "price": "20.00"}
            """)
        #expect(reply.status == 201, "\(reply.body)")
        return try #require(reply.json["id"] as? String)
    }

    /// A user token whose user row exists (any authenticated /v1 call mirrors it).
    static func member(_ intake: DaemonHarness, expiresIn: TimeInterval = 3600) async throws -> (token: String, id: String) {
        let id = UUID().uuidString.lowercased()
        let token = try await TokenFactory.token(sub: id, expiresIn: expiresIn)
        let reply = try await intake.send("GET", "/v1/notifications", token: token)
        #expect(reply.status == 200, "\(reply.body)")
        return (token, id)
    }

    /// In-app notifications for `user` written straight into the table, as any writer could.
    static func insertNotifications(_ intake: DaemonHarness, user: String, subjects: [String]) async throws {
        try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
            _ = try await client.query("""
                INSERT INTO evently.notifications (user_id, type, template, content)
                SELECT \(UUID(uuidString: user)!), 'in_app', 'test', jsonb_build_object('subject', s, 'body', 'hello')
                FROM unnest(\(subjects)::text[]) WITH ORDINALITY AS t(s, n) ORDER BY n
                """, logger: Self.logger)
        }
    }

    /// How a refused socket is closed, read off a plain socket: the first frame after the 101.
    static func refusal(_ intake: DaemonHarness, token: String?, headers: [String: String] = [:]) async throws -> (code: Int, reason: String) {
        var headers = headers
        if let token { headers["Authorization"] = "Bearer \(token)" }
        let socket = try RawWebSocket(port: intake.port, headers: headers)
        defer { socket.close() }
        return try #require(try await onOwnThread { try socket.readCloseFrame() }, "the first frame was not a close frame")
    }

    // MARK: What reaches whom

    @Test func aBookingReachesItsUsersStreamsAndNeverAnotherUsers() async throws {
        try await Self.withIntake { intake in
            let event = try await Self.createEvent(intake, capacity: 10)
            let ann = try await Self.member(intake)
            let bob = try await Self.member(intake)
            let annSocket = LiveSocket(port: intake.port, token: ann.token)
            let bobStream = LiveEventStream(port: intake.port, token: bob.token)
            defer { annSocket.close(); bobStream.close() }
            #expect(try await bobStream.waitForStatus() == 200)
            try await annSocket.waitUntil("Ann's hello") { $0.contains { $0.type == "hello" } }
            try await bobStream.waitUntil("Bob's hello") { $0.contains { $0.type == "hello" } }
            #expect(annSocket.messages("hello").first?.data["user_id"] as? String == ann.id)

            let booked = try await intake.send("POST", "/v1/bookings", token: ann.token,
                                               json: #"{"event_id": "\#(event)", "quantity": 2}"#,
                                               headers: ["Idempotency-Key": UUID().uuidString])
            #expect(booked.status == 201, "\(booked.body)")
            let bookingID = try #require(booked.json["id"] as? String)

            let seen = try await annSocket.waitUntil("Ann's booking and its in-app confirmation", timeout: .seconds(60)) { messages in
                messages.contains { $0.type == "booking" && $0.data["id"] as? String == bookingID }
                    && messages.contains { $0.type == "notification" && $0.data["booking_id"] as? String == bookingID }
            }
            let booking = try #require(seen.first { $0.type == "booking" })
            #expect(booking.data["status"] as? String == "confirmed")
            #expect(booking.data["quantity"] as? Int == 2)
            // Ids rise: a change of the user's rows carries the highest change number sent.
            let numbers = seen.compactMap { LiveMessageIDs.cursor(of: $0.id) }
            #expect(numbers == numbers.sorted(), "\(seen.map(\.id))")

            // Bob's stream carries none of it.
            try await Task.sleep(for: .seconds(2))
            #expect(bobStream.messages.map(\.type) == ["hello"], "\(bobStream.messages.map(\.text))")

            // Ann cancels: her stream shows the booking cancelled.
            let cancelled = try await intake.send("POST", "/v1/bookings/\(bookingID)/cancel", token: ann.token)
            #expect(cancelled.status == 200, "\(cancelled.body)")
            try await annSocket.waitUntil("the cancellation") { messages in
                messages.contains { $0.type == "booking" && $0.data["status"] as? String == "cancelled" }
            }

            let metrics = try await intake.scrape()
            #expect(metrics.value("evently_live_connections", ["transport": "websocket"]) == 1)
            #expect(metrics.value("evently_live_connections", ["transport": "sse"]) == 1)
            #expect((metrics.value("evently_live_messages_total", ["type": "booking"]) ?? 0) >= 2)
        }
    }

    @Test func aBookingTakenThroughOneDaemonReachesStreamsHeldByAnother() async throws {
        try await Self.withIntake { first in
            try await first.alongside(configure: { $0.intake.jwtSecret = TokenFactory.secret }) { second in
                let event = try await Self.createEvent(first, capacity: 10)
                let ann = try await Self.member(first)
                let watcher = try await Self.member(second)
                // Ann watches her own changes on the second daemon; another user watches the event there.
                let annSocket = LiveSocket(port: second.port, token: ann.token)
                let watcherSocket = LiveSocket(port: second.port, token: watcher.token)
                defer { annSocket.close(); watcherSocket.close() }
                try await watcherSocket.waitUntil("hello") { $0.contains { $0.type == "hello" } }
                try await annSocket.waitUntil("hello") { $0.contains { $0.type == "hello" } }
                watcherSocket.send(#"{"subscribe": ["event:\#(event)"]}"#)
                try await watcherSocket.waitUntil("the event's current value") { messages in
                    messages.contains { $0.type == "event" && $0.data["available_seats"] as? Int == 10 }
                }

                let booked = try await first.send("POST", "/v1/bookings", token: ann.token,
                                                  json: #"{"event_id": "\#(event)", "quantity": 3}"#,
                                                  headers: ["Idempotency-Key": UUID().uuidString])
                #expect(booked.status == 201, "\(booked.body)")
                let event7 = try await watcherSocket.waitUntil("seats left after the booking on the other daemon") { messages in
                    messages.contains { $0.type == "event" && $0.data["available_seats"] as? Int == 7 }
                }
                let update = try #require(event7.last { $0.type == "event" })
                #expect(update.data["id"] as? String == event)
                #expect(update.data["current_price"] as? String != nil)
                try await annSocket.waitUntil("Ann's booking on the other daemon") { messages in
                    messages.contains { $0.type == "booking" && $0.data["id"] as? String == booked.json["id"] as? String }
                }
                // The watcher sees the event, never Ann's booking.
                #expect(!watcherSocket.messages.contains { $0.type == "booking" || $0.type == "notification" })
            }
        }
    }

    @Test func aHotEventsSeatsAreCoalescedToAFewMessagesASecondEndingAtTheLatestValue() async throws {
        try await Self.withIntake { intake in
            let event = try await Self.createEvent(intake, capacity: 500)
            let watcher = try await Self.member(intake)
            let stream = LiveEventStream(port: intake.port, token: watcher.token, query: "?events=\(event)")
            defer { stream.close() }
            try await stream.waitUntil("the current value") { $0.contains { $0.type == "event" } }
            var buyers: [String] = []
            for _ in 0..<20 { buyers.append(try await Self.member(intake).token) }
            let tokens = buyers
            let started = ContinuousClock.now
            // 200 bookings as fast as the intake takes them, 20 at a time.
            let refusals = Locked<[String]>([])
            let confirmed = try await withThrowingTaskGroup(of: Int.self) { group in
                for round in 0..<20 {
                    group.addTask {
                        var seats = 0
                        for _ in 0..<10 {
                            let reply = try await intake.send("POST", "/v1/bookings", token: tokens[round],
                                                              json: #"{"event_id": "\#(event)", "quantity": 1}"#,
                                                              headers: ["Idempotency-Key": UUID().uuidString])
                            if reply.status == 201 { seats += 1 } else { refusals.withLock { $0.append("\(reply.status) \(reply.body)") } }
                        }
                        return seats
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(confirmed == 200, "refused: \(Set(refusals.withLock { $0 }))")
            let messages = try await stream.waitUntil("the latest value, 300 seats left") { messages in
                messages.last { $0.type == "event" }?.data["available_seats"] as? Int == 300
            }
            let elapsed = ContinuousClock.now - started
            let updates = messages.filter { $0.type == "event" }.count - 1
            // At most one per 250 ms interval (and the first at once), however many bookings.
            let allowed = Int(elapsed / .milliseconds(250)) + 2
            #expect(updates >= 1 && updates <= allowed, "\(updates) updates in \(elapsed) for 200 bookings (allowed \(allowed))")
            #expect(updates < 200)
        }
    }

    @Test func theWaitingLineMovesLiveAndAnOfferArrivesWithItsExpiry() async throws {
        try await Self.withIntake { intake in
            let event = try await Self.createEvent(intake, capacity: 1)
            let ann = try await Self.member(intake)
            let bob = try await Self.member(intake)
            let cat = try await Self.member(intake)
            let booked = try await intake.send("POST", "/v1/bookings", token: ann.token, json: #"{"event_id": "\#(event)", "quantity": 1}"#,
                                               headers: ["Idempotency-Key": UUID().uuidString])
            #expect(booked.status == 201, "\(booked.body)")
            for user in [bob, cat] {
                let joined = try await intake.send("POST", "/v1/events/\(event)/waitlist", token: user.token, json: #"{"quantity": 1}"#)
                #expect(joined.status == 201, "\(joined.body)")
            }
            let bobSocket = LiveSocket(port: intake.port, token: bob.token)
            let catStream = LiveEventStream(port: intake.port, token: cat.token)
            defer { bobSocket.close(); catStream.close() }
            // On connect: each one's open entry with its place in line.
            try await bobSocket.waitUntil("Bob's place") { $0.contains { $0.type == "waitlist" && $0.data["position"] as? Int == 1 } }
            try await catStream.waitUntil("Cat's place") { $0.contains { $0.type == "waitlist" && $0.data["position"] as? Int == 2 } }

            // Ann cancels: the promotion offers her seat to Bob, and Cat moves up.
            let cancelled = try await intake.send("POST", "/v1/bookings/\(try #require(booked.json["id"] as? String))/cancel", token: ann.token)
            #expect(cancelled.status == 200, "\(cancelled.body)")
            let offered = try await bobSocket.waitUntil("Bob's offer", timeout: .seconds(60)) { messages in
                messages.contains { $0.type == "waitlist" && $0.data["status"] as? String == "offered" }
            }
            let offer = try #require(offered.last { $0.type == "waitlist" })
            #expect(offer.data["offer_expires_at"] as? String != nil, "\(offer.text)")
            #expect(offer.data["offered_seats"] as? Int == 1)
            try await catStream.waitUntil("Cat moving to first in line", timeout: .seconds(60)) { messages in
                messages.contains { $0.type == "waitlist" && $0.data["position"] as? Int == 1 }
            }
            #expect(!catStream.messages.contains { $0.type == "waitlist" && $0.data["status"] as? String == "offered" })
        }
    }

    @Test func reconnectingWithTheLastIDReplaysWhatWasMissedInOrderOnce() async throws {
        try await Self.withIntake { intake in
            let user = try await Self.member(intake)
            let before = LiveEventStream(port: intake.port, token: user.token)
            let hello = try await before.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            let lastID = try #require(hello.last?.id)
            before.close()

            try await Self.insertNotifications(intake, user: user.id, subjects: ["first", "second", "third"])

            let after = LiveEventStream(port: intake.port, token: user.token, lastEventID: lastID)
            defer { after.close() }
            #expect(try await after.waitForStatus() == 200)
            try await after.waitUntil("the three missed notifications") { $0.filter { $0.type == "notification" }.count >= 3 }
            // And one made while connected arrives live, after them.
            try await Self.insertNotifications(intake, user: user.id, subjects: ["fourth"])
            try await after.waitUntil("the live one") { $0.filter { $0.type == "notification" }.count >= 4 }
            try await Task.sleep(for: .seconds(1))
            let notifications = after.messages("notification")
            #expect(notifications.map { $0.data["subject"] as? String } == ["first", "second", "third", "fourth"],
                    "\(notifications.map(\.text))")
            #expect(after.messages("hello").first?.data["resumed"] as? Bool == true)
            let numbers = after.messages.compactMap { LiveMessageIDs.cursor(of: $0.id) }
            #expect(numbers == numbers.sorted())

            // Resuming on a socket works the same way, from the SSE stream's last id.
            let socket = LiveSocket(port: intake.port, token: user.token)
            defer { socket.close() }
            try await socket.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            socket.send(#"{"resume": "\#(lastID)"}"#)
            try await socket.waitUntil("the replay") { $0.filter { $0.type == "notification" }.count >= 4 }
        }
    }

    @Test func streamsCatchUpWhenTheirDaemonsListenConnectionIsLost() async throws {
        try await DaemonHarness.withTokens({ config in
            config.intake.rateLimitPerUser = 0
            config.intake.rateLimitPerAddress = 0
        }, proxied: true) { intake in
            let proxy = try #require(intake.proxy)
            let user = try await Self.member(intake)
            let stream = LiveEventStream(port: intake.port, token: user.token)
            defer { stream.close() }
            try await stream.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            // The daemon's database traffic (its LISTEN included) is held while five notifications
            // are committed, then its connections are cut: the NOTIFYs on the way are gone.
            proxy.blackHole()
            try await Self.insertNotifications(intake, user: user.id, subjects: ["while", "the", "listener", "was", "away"])
            try await Task.sleep(for: .milliseconds(300))
            proxy.dropConnections()
            proxy.heal()
            try await stream.waitUntil("the changes committed while the LISTEN was lost", timeout: .seconds(30)) {
                $0.filter { $0.type == "notification" }.count >= 5
            }
            try await Task.sleep(for: .seconds(1))
            #expect(stream.messages("notification").map { $0.data["subject"] as? String } == ["while", "the", "listener", "was", "away"])
        }
    }

    @Test func aDaemonStopsPromptlyWithStreamsOpenAndSaysWhy() async throws {
        let socket = Locked<LiveSocket?>(nil)
        let stream = Locked<LiveEventStream?>(nil)
        let started = ContinuousClock.now
        let stopping = Locked<ContinuousClock.Instant?>(nil)
        try await Self.withIntake { intake in
            let user = try await Self.member(intake)
            let opened = (LiveSocket(port: intake.port, token: user.token), LiveEventStream(port: intake.port, token: user.token))
            socket.withLock { $0 = opened.0 }
            stream.withLock { $0 = opened.1 }
            try await opened.0.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            try await opened.1.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            stopping.withLock { $0 = ContinuousClock.now }
            // Returning shuts the daemon down as SIGTERM would, with both streams open.
        }
        let stopped = ContinuousClock.now - (stopping.withLock { $0 } ?? started)
        #expect(stopped < .seconds(15), "the daemon took \(stopped) to stop with live streams open")
        let liveSocket = try #require(socket.withLock { $0 })
        let closed = try await liveSocket.waitForClose(timeout: .seconds(5))
        #expect(closed.code == 1001 || closed.code == 1000, "\(closed)")
        let liveStream = try #require(stream.withLock { $0 })
        let deadline = ContinuousClock.now + .seconds(5)
        while !liveStream.ended.withLock({ $0 }), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(liveStream.ended.withLock { $0 }, "the SSE stream is still open after the daemon stopped")
        liveSocket.close()
        liveStream.close()
    }

    // MARK: Slow clients

    @Test func aClientThatStopsReadingIsCutOffAndItsBufferStaysBounded() async throws {
        try await Self.withIntake({ $0.live.buffer = 32 }) { intake in
            let user = try await Self.member(intake)
            // A socket that upgrades and then never reads a byte, with a small receive buffer.
            let stuck = try RawWebSocket(port: intake.port, token: user.token)
            defer { stuck.close() }
            let deadline = ContinuousClock.now + .seconds(20)
            while try await intake.scrape().value("evently_live_connections", ["transport": "websocket"]) != 1 {
                guard ContinuousClock.now < deadline else { throw LiveClientError("the stuck socket never connected") }
                try await Task.sleep(for: .milliseconds(100))
            }
            // Far more than the socket buffers and the stream's 32 messages can hold.
            try await Self.insertNotifications(intake, user: user.id, subjects: (1...6_000).map { "note \($0) " + String(repeating: "x", count: 500) })

            let closedBy = ContinuousClock.now + .seconds(60)
            var metrics = try await intake.scrape()
            while metrics.value("evently_live_closed_total", ["transport": "websocket", "reason": "too_slow"]) != 1 {
                guard ContinuousClock.now < closedBy else {
                    throw LiveClientError("the stuck socket was not closed: \(metrics.filter { $0.name.hasPrefix("evently_live") })")
                }
                try await Task.sleep(for: .milliseconds(200))
                metrics = try await intake.scrape()
            }
            #expect(metrics.value("evently_live_connections", ["transport": "websocket"]) == 0)
            let highWater = try #require(metrics.value("evently_live_buffer_high_water"))
            #expect(highWater <= 32 && highWater >= 16, "the stream's buffer held \(highWater) messages at most")
            // The server's end is gone: reading what was delivered ends in end-of-file.
            #expect(try stuck.drainUntilClosed(within: .seconds(20)))

            // A client that reads keeps its stream (another user: the first one's backlog may
            // still be on its way to whichever stream of theirs is open).
            let other = try await Self.member(intake)
            let reader = LiveSocket(port: intake.port, token: other.token)
            defer { reader.close() }
            try await reader.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            try await Self.insertNotifications(intake, user: other.id, subjects: (1...20).map { "later \($0)" })
            try await reader.waitUntil("20 notifications") { $0.filter { $0.type == "notification" }.count == 20 }
        }
    }

    // MARK: Refusals

    @Test func badTokensOriginsAndSubscriptionsGetClearAnswers() async throws {
        try await Self.withIntake({ config in
            config.live.authTimeout = .seconds(1)
            config.live.maxConnectionsPerUser = 2
            config.intake.corsOrigins = ["https://console.example"]
        }) { intake in
            let user = try await Self.member(intake)

            // Without an upgrade: 426 naming the SSE alternative.
            let plain = try await intake.send("GET", "/v1/live", token: user.token)
            #expect(plain.status == 426 && plain.errorCode == "upgrade_required", "\(plain.body)")
            #expect(plain.headers["upgrade"] == "websocket")
            // Refused sockets close at once with a code and reason that say why.
            func closing(token: String?, headers: [String: String] = [:]) async throws -> (code: Int, reason: String) {
                try await Self.refusal(intake, token: token, headers: headers)
            }
            let badToken = try await closing(token: "not-a-token")
            #expect(badToken.code == 4401 && badToken.reason.contains("not valid"), "\(badToken)")
            let expired = try await closing(token: try await TokenFactory.token(expiresIn: -3600))
            #expect(expired.code == 4401 && expired.reason == "the token has expired", "\(expired)")
            let origin = try await closing(token: user.token, headers: ["Origin": "https://evil.example"])
            #expect(origin.code == 4403 && origin.reason.contains("evil.example"), "\(origin)")

            let sseAnonymous = try await intake.send("GET", "/v1/live/events")
            #expect(sseAnonymous.status == 401, "\(sseAnonymous.body)")
            let notAnEvent = try await intake.send("GET", "/v1/live/events?events=nope", token: user.token)
            #expect(notAnEvent.status == 400 && notAnEvent.errorCode == "unknown_subscription", "\(notAnEvent.body)")
            let noSuchEvent = try await intake.send("GET", "/v1/live/events?events=\(UUID().uuidString)", token: user.token)
            #expect(noSuchEvent.status == 404 && noSuchEvent.errorCode == "unknown_subscription", "\(noSuchEvent.body)")
            let tooMany = (0...100).map { _ in UUID().uuidString }.joined(separator: ",")
            let hundredAndOne = try await intake.send("GET", "/v1/live/events?events=\(tooMany)", token: user.token)
            #expect(hundredAndOne.status == 400 && hundredAndOne.errorCode == "too_many_subscriptions", "\(hundredAndOne.body)")
            let queuesAsUser = try await intake.send("GET", "/v1/live/events?queues=true", token: user.token)
            #expect(queuesAsUser.status == 403, "\(queuesAsUser.body)")
            let badResume = try await intake.send("GET", "/v1/live/events", token: user.token, headers: ["Last-Event-ID": "x"])
            #expect(badResume.status == 400 && badResume.errorCode == "bad_last_event_id", "\(badResume.body)")

            // The token as a subprotocol, as a browser's WebSocket sends it (the client's own
            // Origin is this host's).
            var browserHeaders = HTTPFields()
            browserHeaders[.secWebSocketProtocol] = "evently.live, bearer.\(user.token)"
            let browser = LiveSocket(port: intake.port, token: nil, headers: browserHeaders)
            defer { browser.close() }
            try await browser.waitUntil("hello over a subprotocol token") { $0.contains { $0.type == "hello" } }
            // An unknown subscription is an error message; the stream goes on.
            browser.send(#"{"subscribe": ["bogus"]}"#)
            try await browser.waitUntil("the error") { messages in
                messages.contains { $0.type == "error" && $0.data["error"] as? String == "unknown_subscription" }
            }
            browser.send(#"{"subscribe": ["queues"]}"#)
            try await browser.waitUntil("queues refused to a user") { messages in
                messages.contains { $0.type == "error" && $0.data["error"] as? String == "forbidden" }
            }
            browser.send("not json")
            try await browser.waitUntil("bad message") { $0.contains { $0.type == "error" && $0.data["error"] as? String == "bad_message" } }

            // The token in the first message; a third stream of the same user is refused.
            let firstMessage = LiveSocket(port: intake.port, token: nil)
            defer { firstMessage.close() }
            firstMessage.send(#"{"token": "\#(user.token)"}"#)
            try await firstMessage.waitUntil("hello after the first message") { $0.contains { $0.type == "hello" } }
            let third = try await closing(token: user.token)
            #expect(third.code == 4429 && third.reason.contains("per user"), "\(third)")
            let thirdSSE = try await intake.send("GET", "/v1/live/events", token: user.token)
            #expect(thirdSSE.status == 429 && thirdSSE.errorCode == "too_many_streams", "\(thirdSSE.body)")

            // No token in time: closed with 4408. A bad first-message token: 4401.
            #expect(try await closing(token: nil).code == 4408)
            let wrong = LiveSocket(port: intake.port, token: nil)
            defer { wrong.close() }
            wrong.send(#"{"token": "nope"}"#)
            #expect(try await wrong.waitForClose().code == 4401)
        }
    }

    @Test func upgradeAttemptsAreRateLimitedPerAddress() async throws {
        try await DaemonHarness.withTokens({ $0.intake.rateLimitPerAddress = 5 }) { intake in
            for _ in 0..<5 {
                #expect(try await Self.refusal(intake, token: "guess-\(UUID())").code == 4401)
            }
            let closed = try await Self.refusal(intake, token: "guess-\(UUID())")
            #expect(closed.code == 4429 && closed.reason.contains("too many attempts"), "\(closed)")
        }
    }

    @Test func aStreamClosesWhenItsTokenExpires() async throws {
        try await Self.withIntake({ config in
            config.intake.leeway = .zero
            config.live.pingInterval = .seconds(1)
        }) { intake in
            let shortLived = try await TokenFactory.token(expiresIn: 3)
            _ = try await intake.send("GET", "/v1/notifications", token: shortLived)
            let socket = LiveSocket(port: intake.port, token: shortLived)
            let stream = LiveEventStream(port: intake.port, token: shortLived)
            defer { socket.close(); stream.close() }
            try await socket.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            let closed = try await socket.waitForClose(timeout: .seconds(15))
            #expect(closed.code == 4001 && closed.reason == "token expired", "\(closed)")
            try await stream.waitUntil("the SSE stream's last word") { messages in
                messages.contains { $0.type == "error" && $0.data["error"] as? String == "token_expired" }
            }
            // Meanwhile the idle stream was kept open with comment lines.
            #expect(stream.body.withLock { $0 }.contains("\n: ping\n\n"))
        }
    }

    @Test func operatorsWatchQueueCounts() async throws {
        try await Self.withIntake { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            // A queue with work in it (due next year, so it stays).
            try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
                _ = try await JobClient(client: client, logger: Self.logger)
                    .enqueue(NewJob(kind: "diag.noop", options: .init(runAt: Date().addingTimeInterval(365 * 86_400))))
            }
            let socket = LiveSocket(port: intake.port, token: operatorToken)
            let stream = LiveEventStream(port: intake.port, token: operatorToken, query: "?queues=true")
            defer { socket.close(); stream.close() }
            try await socket.waitUntil("hello") { $0.contains { $0.type == "hello" } }
            socket.send(#"{"subscribe": ["queues"]}"#)
            for client in [socket as any LiveClient, stream] {
                let messages = try await client.waitUntil("queue counts") { $0.contains { $0.type == "queues" } }
                let text = try #require(messages.last { $0.type == "queues" }?.text)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                let queues = try #require(object["data"] as? [[String: Any]])
                #expect(queues.contains { $0["queue"] as? String == "default" }, "\(text)")
            }
        }
    }
}

/// A WebSocket client on a plain socket: it sends the upgrade request and reads only when told
/// to. With a receive buffer as small as the kernel allows, a client that never reads backs the
/// server's writes up at once; reading the first frame after the 101 shows how a refused
/// socket is closed, byte for byte.
final class RawWebSocket: Sendable {
    let descriptor: Int32

    init(port: Int, headers: [String: String], smallReceiveBuffer: Bool = false) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw LiveClientError("socket() failed") }
        if smallReceiveBuffer {
            var size: Int32 = 2_048
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let descriptor = self.descriptor
        let connected = withLoopbackAddress(port: port) { connect(descriptor, $0, $1) }
        guard connected == 0 else { close(); throw LiveClientError("connect() failed") }
        var request = "GET /v1/live HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        let bytes = Array((request + "\r\n").utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else { close(); throw LiveClientError("write() failed") }
    }

    convenience init(port: Int, token: String) throws {
        try self.init(port: port, headers: ["Authorization": "Bearer \(token)"], smallReceiveBuffer: true)
    }

    /// Reads the 101 answer and the first frame; returns its close code and reason, or `nil`
    /// when that frame is not a close frame.
    func readCloseFrame(within limit: Duration = .seconds(20)) throws -> (code: Int, reason: String)? {
        var timeout = timeval(tv_sec: Int(limit.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let headEnd = Array("\r\n\r\n".utf8)
        while true {
            if let end = received.indices.first(where: { received[$0...].starts(with: headEnd) }) {
                let head = String(decoding: received[..<end], as: UTF8.self)
                guard head.hasPrefix("HTTP/1.1 101") else { throw LiveClientError("no upgrade: \(head)") }
                let frame = Array(received[(end + 4)...])
                if frame.count >= 2, frame.count >= 2 + Int(frame[1] & 0x7f) {
                    guard frame[0] == 0x88 else { return nil }
                    let length = Int(frame[1] & 0x7f)
                    guard length >= 2 else { return (1005, "") }
                    let code = Int(frame[2]) << 8 | Int(frame[3])
                    return (code, String(decoding: frame[4..<(2 + length)], as: UTF8.self))
                }
            }
            let count = read(descriptor, &buffer, buffer.count)
            guard count > 0 else { throw LiveClientError("the connection ended after \(received.count) bytes") }
            received += buffer[..<count]
        }
    }

    /// Reads everything the server managed to send; `true` when it ends in end-of-file or a
    /// reset (the server closed its end) within `within`.
    func drainUntilClosed(within limit: Duration) throws -> Bool {
        var timeout = timeval(tv_sec: Int(limit.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    func close() {
        _ = Glibc.close(descriptor)
    }
}
