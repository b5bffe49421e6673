import BookingCore
import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// `/v1/reports` over real HTTP against the daemon's database.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ReportRoutesTests {
    /// Builds the hourly report containing `instant` the way `report.build` does, on the daemon's database.
    static func buildReport(_ intake: DaemonHarness, containing instant: Date) async throws -> UUID {
        try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration()) { client in
            try await client.withConnection { connection in
                try await ReportStore(logger: TestDatabase.logger).build(period: .hourly, start: instant, now: Date(), on: connection).report.id
            }
        }
    }

    @Test func adminsReadReportsAsJSONAndCSV() async throws {
        try await DaemonHarness.with(configure: { $0.intake.jwtSecret = TokenFactory.secret }) { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let user = try await TokenFactory.token()
            let name = "Rock, \"live\""
            let created = try await intake.send("POST", "/v1/events", token: admin, json: """
                {"name": "Rock, \\"live\\"", "venue": "Hall", "starts_at": "2030-01-01T10:00:00Z", "capacity": 10, "price": "20.00"}
                """)
            #expect(created.status == 201, "\(created.body)")
            let event = try #require(created.json["id"] as? String)
            let booked = try await intake.send("POST", "/v1/bookings", token: user, json: #"{"event_id": "\#(event)", "quantity": 3}"#,
                                               headers: ["Idempotency-Key": UUID().uuidString])
            #expect(booked.status == 201, "\(booked.body)")
            let bookedAt = try #require((booked.json["created_at"] as? String).flatMap(ISO8601DateFormatter().date(from:)))
            let id = try await Self.buildReport(intake, containing: bookedAt)

            // The listing: newest first, totals without lines, filtered by period.
            let listed = try await intake.send("GET", "/v1/reports", token: admin)
            #expect(listed.status == 200, "\(listed.body)")
            let reports = try #require(try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [[String: Any]])
            #expect(reports.count == 1)
            #expect((reports.first?["id"] as? String).flatMap(UUID.init(uuidString:)) == id)
            #expect(reports.first?["lines"] == nil)
            #expect(reports.first?["period"] as? String == "hourly")
            let listedTotals = try #require(reports.first?["totals"] as? [String: Any])
            #expect(listedTotals["seats"] as? Int == 3)
            #expect(listedTotals["revenue"] as? String == "60.00")
            let hourly = try await intake.send("GET", "/v1/reports?period=hourly&limit=5", token: admin)
            #expect((try JSONSerialization.jsonObject(with: Data(hourly.body.utf8)) as? [Any])?.count == 1)
            let daily = try await intake.send("GET", "/v1/reports?period=daily", token: admin)
            #expect(daily.body == "[]")
            #expect(try await intake.send("GET", "/v1/reports?period=weekly", token: admin).errorField == "period")
            #expect(try await intake.send("GET", "/v1/reports?limit=0", token: admin).errorField == "limit")

            // One report as JSON.
            let shown = try await intake.send("GET", "/v1/reports/\(id)", token: admin)
            #expect(shown.status == 200, "\(shown.body)")
            #expect(shown.headers["content-type"] == "application/json")
            let lines = try #require(shown.json["lines"] as? [[String: Any]])
            #expect(lines.count == 1)
            #expect((lines.first?["event_id"] as? String).flatMap(UUID.init(uuidString:)) == UUID(uuidString: event))
            #expect(lines.first?["event_name"] as? String == name)
            #expect(lines.first?["bookings"] as? Int == 1)
            #expect(lines.first?["revenue"] as? String == "60.00")
            #expect(lines.first?["utilisation"] as? Double == 0.3)
            #expect((shown.json["totals"] as? [String: Any])?["confirmed_seats"] as? Int == 3)
            #expect(shown.json["event_count"] as? Int == 1)

            // The same report as CSV.
            let csv = try await intake.send("GET", "/v1/reports/\(id)", token: admin, headers: ["Accept": "text/csv"])
            #expect(csv.status == 200)
            #expect(csv.headers["content-type"] == "text/csv; charset=utf-8")
            #expect(csv.headers["content-disposition"]?.contains("report-hourly-") == true)
            let rows = try StrictCSV.parse(csv.body)
            #expect(rows.count == 3)
            #expect(rows.first == Report.csvHeader)
            #expect(rows[1][0] == event.lowercased() && rows[1][1] == name)
            #expect(rows.last == ["TOTAL", "", "", "1", "3", "60.00", "0", "0", "3", "10", "0.3000", "0"])

            // Admins only; unknown and malformed ids.
            #expect(try await intake.send("GET", "/v1/reports", token: user).status == 403)
            #expect(try await intake.send("GET", "/v1/reports/\(id)", token: user).status == 403)
            #expect(try await intake.send("GET", "/v1/reports/\(id)").status == 401)
            let missing = try await intake.send("GET", "/v1/reports/\(UUID())", token: admin, headers: ["Accept": "text/csv"])
            #expect(missing.status == 404)
            #expect(missing.errorCode == "not_found")
            #expect(missing.headers["content-type"] == "application/json")
            let malformed = try await intake.send("GET", "/v1/reports/not-a-uuid", token: admin)
            #expect(malformed.status == 400)
            #expect(malformed.errorField == "id")
        }
    }

    @Test(arguments: [
        (nil, false),
        ("text/csv", true),
        ("text/csv; charset=utf-8", true),
        ("application/json", false),
        ("*/*", false),
        ("text/*", false),
        ("application/json, text/csv", true),
        ("application/json;q=1, text/csv;q=0.5", false),
        ("text/csv;q=0.9, */*;q=0.1", true),
        ("text/csv;q=0", false),
        ("TEXT/CSV", true),
    ] as [(String?, Bool)])
    func acceptChoosesCSVOnlyWhenAsked(accept: String?, csv: Bool) {
        #expect(ReportRoutes.prefersCSV(accept) == csv)
    }
}
