import BookingCore
import EventlyTestSupport
import Foundation
import PostgresNIO
import Testing

/// `Report`'s CSV form (`Report+CSV`).
@Suite(.timeLimit(.minutes(5))) struct ReportTests {
    @Test func csvQuotesAndParses() async throws {
        try await BookingFixture.with { f in
            let day = ReportFixture.Day(f)
            _ = try await ReportFixture.seed(f, day)
            let report = try await f.client.withConnection {
                try await ReportFixture.reports.build(period: .daily, start: day.start, now: day.after, on: $0).report
            }
            #expect(report.csv.contains("\"Rock, \"\"live\"\"\""))
            let rows = try StrictCSV.parse(report.csv)
            #expect(rows.first == Report.csvHeader)
            #expect(rows.count == 4)
            #expect(rows[1][1] == "Rock, \"live\"")
            #expect(rows[1][2] == "2030-04-16T17:46:40Z")
            #expect(rows.last == ["TOTAL", "", "", "4", "9", "130.00", "2", "3", "8", "14", "0.5714", "1"])
            #expect(report.csvFileName == "report-daily-20300317T000000Z.csv")
        }
    }
}
