import EventlyTestSupport
import Foundation
import Testing
@testable import evently_jobs

/// `/v1/analytics` over real HTTP.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AnalyticsRoutesTests {
    @Test func analyticsAreForAdminsAndReflectBookings() async throws {
        try await DaemonHarness.with(configure: { $0.intake.jwtSecret = TokenFactory.secret }) { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let user = try await TokenFactory.token()
            let created = try await intake.send("POST", "/v1/events", token: admin, json: """
                {"name": "Talk", "venue": "Room 1", "starts_at": "2030-01-01T10:00:00Z", "capacity": 10, "price": "5.00"}
                """)
            let event = try #require(created.json["id"] as? String)
            let booked = try await intake.send("POST", "/v1/bookings", token: user, json: #"{"event_id": "\#(event)", "quantity": 3}"#,
                                               headers: ["Idempotency-Key": UUID().uuidString])
            #expect(booked.status == 201)
            #expect(try await intake.send("GET", "/v1/analytics/bookings", token: user).status == 403)
            let summary = try await intake.send("GET", "/v1/analytics/bookings", token: admin)
            #expect(summary.status == 200, "\(summary.body)")
            let cancellation = try #require(summary.json["cancellation"] as? [String: Any])
            #expect(cancellation["bookings"] as? Int == 1)
            let utilisation = try await intake.send("GET", "/v1/analytics/utilisation", token: admin)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(utilisation.body.utf8)) as? [[String: Any]])
            #expect(rows.first?["booked_seats"] as? Int == 3)
            let top = try await intake.send("GET", "/v1/analytics/top-events?limit=5", token: admin)
            #expect(top.status == 200)
            #expect(try await intake.send("GET", "/v1/analytics/top-events?limit=0", token: admin).status == 400)
            #expect(try await intake.send("GET", "/v1/analytics/bookings?from=yesterday", token: admin).errorField == "from")
            #expect(try await intake.send("GET", "/v1/analytics/waitlists", token: admin).status == 200)
        }
    }
}
