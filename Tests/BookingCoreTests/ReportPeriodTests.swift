import BookingCore
import Foundation
import Testing

@Suite(.timeLimit(.minutes(5))) struct ReportPeriodTests {
    @Test(arguments: [
        (ReportPeriod.daily, "2030-03-17T17:46:40Z", "2030-03-17T00:00:00Z", "2030-03-16T00:00:00Z"),
        (.daily, "2030-03-17T00:00:00Z", "2030-03-17T00:00:00Z", "2030-03-16T00:00:00Z"),
        (.hourly, "2030-03-17T17:46:40Z", "2030-03-17T17:00:00Z", "2030-03-17T16:00:00Z"),
        (.hourly, "1969-12-31T23:30:00Z", "1969-12-31T23:00:00Z", "1969-12-31T22:00:00Z"),
    ])
    func periodsAreWholeUTCHoursAndDays(period: ReportPeriod, at: String, start: String, lastComplete: String) throws {
        let iso = ISO8601DateFormatter()
        let date = try #require(iso.date(from: at))
        #expect(iso.string(from: period.start(containing: date)) == start)
        #expect(iso.string(from: period.lastComplete(before: date)) == lastComplete)
        #expect(period.end(startingAt: period.start(containing: date)).timeIntervalSince(period.start(containing: date)) == period.length)
    }
}
