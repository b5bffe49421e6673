import BookingCore
import EventlyTestSupport
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(5))) struct ReportStoreTests {
    @Test func figuresFollowTheirDefinitions() async throws {
        try await BookingFixture.with { f in
            let day = ReportFixture.Day(f)
            let (rock, jazz, _) = try await ReportFixture.seed(f, day)
            let buildTime = day.after.addingTimeInterval(3_600)
            let (report, built) = try await f.client.withConnection {
                try await ReportFixture.reports.build(period: .daily, start: day.during, now: buildTime, on: $0)
            }
            #expect(built)
            #expect(report.period == .daily)
            #expect(report.periodStart == day.start)
            #expect(report.periodEnd == day.start.addingTimeInterval(86_400))
            #expect(report.builtAt == buildTime)
            #expect(report.csvPath == nil)
            #expect(report.eventCount == 2)
            #expect(report.lines.map(\.eventID) == [rock.id, jazz.id], "by event start; folk had no activity that day")
            #expect(report.lines.map(\.eventName) == ["Rock, \"live\"", "Jazz"])
            #expect(report.lines[0].figures == ReportFigures(
                bookings: 3, seats: 5, revenue: 30, cancellations: 2, cancelledSeats: 3, confirmedSeats: 4, capacity: 10,
                utilisation: Decimal(string: "0.4")!, waitlist: 0))
            #expect(report.lines[1].figures == ReportFigures(
                bookings: 1, seats: 4, revenue: 100, cancellations: 0, cancelledSeats: 0, confirmedSeats: 4, capacity: 4,
                utilisation: 1, waitlist: 1))
            #expect(report.totals == ReportFigures(
                bookings: 4, seats: 9, revenue: 130, cancellations: 2, cancelledSeats: 3, confirmedSeats: 8, capacity: 14,
                utilisation: Decimal(string: "0.5714")!, waitlist: 1))

            // The totals agree with the bookings table, counted independently.
            let end = report.periodEnd
            let (count, seats, revenue) = try await f.client.withConnection { connection in
                try await connection.query("""
                    SELECT count(*), sum(quantity), (sum(total_amount) FILTER (WHERE status = 'confirmed'))::text
                    FROM evently.bookings WHERE created_at >= \(day.start) AND created_at < \(end)
                    """, logger: BookingFixture.logger).collect()[0].decode((Int, Int, String).self)
            }
            #expect(report.totals.bookings == count)
            #expect(report.totals.seats == seats)
            #expect(report.totals.revenue == Decimal(string: revenue))
        }
    }

    @Test func aPeriodIsReportedOnce() async throws {
        try await BookingFixture.with { f in
            let day = ReportFixture.Day(f)
            _ = try await ReportFixture.seed(f, day)
            let first = try await f.client.withConnection {
                try await ReportFixture.reports.build(period: .daily, start: day.start, now: day.after, on: $0)
            }
            // Later activity does not change a built report.
            let admin = try await f.user(.admin)
            let late = try await f.event(capacity: 5, name: "Late", by: admin)
            _ = try await f.book(try await f.user(), late, 1, at: day.during)
            let second = try await f.client.withConnection {
                try await ReportFixture.reports.build(period: .daily, start: day.during, now: day.after.addingTimeInterval(60), on: $0)
            }
            #expect(first.built && !second.built)
            #expect(second.report == first.report)
            #expect(try await f.scalar(Int.self, "SELECT count(*)::int FROM evently.reports") == 1)
            #expect(try await f.scalar(Int.self, "SELECT count(*)::int FROM evently.report_lines") == 2)

            // Another period length is another report.
            let hourly = try await f.client.withConnection {
                try await ReportFixture.reports.build(period: .hourly, start: day.during, now: day.after, on: $0)
            }
            #expect(hourly.built)
            #expect(hourly.report.periodStart == ReportPeriod.hourly.start(containing: day.during))
        }
    }

    @Test func concurrentBuildsOfOnePeriodInsertOneReport() async throws {
        try await BookingFixture.with(maximumConnections: 20) { f in
            let day = ReportFixture.Day(f)
            _ = try await ReportFixture.seed(f, day)
            let results = try await withThrowingTaskGroup(of: (UUID, Bool).self) { group in
                for index in 0..<12 {
                    group.addTask {
                        let (report, built) = try await f.client.withConnection {
                            try await ReportFixture.reports.build(period: .daily, start: day.start.addingTimeInterval(Double(index) * 60),
                                                                  now: day.after, on: $0)
                        }
                        return (report.id, built)
                    }
                }
                return try await group.reduce(into: [(UUID, Bool)]()) { $0.append($1) }
            }
            #expect(results.filter(\.1).count == 1, "exactly one caller built it")
            #expect(Set(results.map(\.0)).count == 1, "every caller got the same report")
            #expect(try await f.scalar(Int.self, "SELECT count(*)::int FROM evently.reports") == 1)
            #expect(try await f.scalar(Int.self, "SELECT count(*)::int FROM evently.report_lines") == 2)
        }
    }

    @Test func aQuietPeriodStillGetsAnEmptyReport() async throws {
        try await BookingFixture.with { f in
            let start = ReportPeriod.hourly.start(containing: f.now)
            let (report, built) = try await f.client.withConnection {
                try await ReportFixture.reports.build(period: .hourly, start: start, now: f.now, on: $0)
            }
            #expect(built)
            #expect(report.lines.isEmpty)
            #expect(report.totals == ReportFigures(bookings: 0, seats: 0, revenue: 0, cancellations: 0, cancelledSeats: 0,
                                                   confirmedSeats: 0, capacity: 0, utilisation: 0, waitlist: 0))
            #expect(report.csv == Report.csvHeader.joined(separator: ",") + "\r\nTOTAL,,,0,0,0.00,0,0,0,0,0.0000,0\r\n")
        }
    }

    @Test func listingIsNewestFirstAndReadsByIdAndPath() async throws {
        try await BookingFixture.with { f in
            let day = ReportFixture.Day(f)
            _ = try await ReportFixture.seed(f, day)
            for (period, start) in [(ReportPeriod.daily, day.before), (.daily, day.start), (.hourly, day.during)] {
                _ = try await f.client.withConnection { try await ReportFixture.reports.build(period: period, start: start, now: day.after, on: $0) }
            }
            let all = try await f.client.withConnection { try await ReportFixture.reports.list(on: $0) }
            #expect(all.map(\.period) == [.hourly, .daily, .daily])
            #expect(all.map(\.periodStart) == [ReportPeriod.hourly.start(containing: day.during), day.start, day.start.addingTimeInterval(-86_400)])
            #expect(all.allSatisfy { $0.lines.isEmpty }, "the listing leaves the lines out")
            let daily = try await f.client.withConnection { try await ReportFixture.reports.list(period: .daily, limit: 1, on: $0) }
            #expect(daily.map(\.periodStart) == [day.start])

            let id = try #require(daily.first?.id)
            try await f.client.withConnection { try await ReportFixture.reports.recordCSVPath("/tmp/r.csv", reportID: id, on: $0) }
            let loaded = try #require(try await f.client.withConnection { try await ReportFixture.reports.get(id: id, on: $0) })
            #expect(loaded.csvPath == "/tmp/r.csv")
            #expect(loaded.lines.count == 2)
            #expect(try await f.client.withConnection { try await ReportFixture.reports.get(id: UUID(), on: $0) } == nil)
        }
    }

    @Test func theSchemaRefusesMisalignedPeriods() async throws {
        try await BookingFixture.with { f in
            for (start, end, constraint) in [("2030-03-17T05:00:00Z", "2030-03-18T05:00:00Z", "reports_period_aligned"),
                                             ("2030-03-17T00:00:00Z", "2030-03-17T23:00:00Z", "reports_period_length")] {
                let error = await #expect(throws: PSQLError.self) {
                    _ = try await f.client.query("""
                        INSERT INTO evently.reports (period, period_start, period_end, built_at, event_count, bookings, seats, revenue,
                                                     cancellations, cancelled_seats, confirmed_seats, capacity, utilisation, waitlist)
                        VALUES ('daily', \(start)::timestamptz, \(end)::timestamptz, now(), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                        """, logger: BookingFixture.logger)
                }
                #expect(error?.serverInfo?[.constraintName] == constraint)
            }
        }
    }
}
