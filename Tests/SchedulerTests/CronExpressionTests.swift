import Foundation
import Scheduler
import Testing

@Suite(.timeLimit(.minutes(5))) struct CronExpressionTests {
    /// The fire times that follow `after`, in order. Expected instants were checked against a
    /// minute-by-minute reference written with Python's zoneinfo.
    struct FireCase: Sendable, CustomTestStringConvertible {
        var expression: String
        var zone = "UTC"
        var after: String
        var expected: [String]
        var testDescription: String { "\(expression) in \(zone) after \(after)" }
    }

    static let fieldForms: [FireCase] = [
        FireCase(expression: "* * * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]),
        // Strictly after, from the middle of a minute.
        FireCase(expression: "* * * * *", after: "2026-01-01T00:00:30Z",
                 expected: ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]),
        FireCase(expression: "5 * * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T00:05:00Z", "2026-01-01T01:05:00Z"]),
        FireCase(expression: "0,15,45 * * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T00:15:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z", "2026-01-01T01:15:00Z"]),
        FireCase(expression: "10-12 * * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T00:10:00Z", "2026-01-01T00:11:00Z", "2026-01-01T00:12:00Z", "2026-01-01T01:10:00Z"]),
        FireCase(expression: "*/20 * * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z", "2026-01-01T01:00:00Z"]),
        FireCase(expression: "10-30/10 * * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z", "2026-01-01T00:30:00Z", "2026-01-01T01:10:00Z"]),
        // `a/n` runs from a to the end of the field.
        FireCase(expression: "50/5 * * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T00:50:00Z", "2026-01-01T00:55:00Z", "2026-01-01T01:50:00Z"]),
        FireCase(expression: "0 9-17/4 * * *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T09:00:00Z", "2026-01-01T13:00:00Z", "2026-01-01T17:00:00Z", "2026-01-02T09:00:00Z"]),
        // Month names in a list, any case.
        FireCase(expression: "0 0 1 JAN,jul *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z", "2027-07-01T00:00:00Z"]),
        FireCase(expression: "0 0 1 Mar-May/2 *", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z", "2027-03-01T00:00:00Z"]),
        // 2026-01-02 is a Friday.
        FireCase(expression: "15 10 * * MON-FRI", after: "2026-01-02T12:00:00Z",
                 expected: ["2026-01-05T10:15:00Z", "2026-01-06T10:15:00Z", "2026-01-07T10:15:00Z"]),
        // Sunday as 0, as 7 and by name.
        FireCase(expression: "0 0 * * 0", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
        FireCase(expression: "0 0 * * 7", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
        FireCase(expression: "0 0 * * sun", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
        FireCase(expression: "0 0 * * 5-7", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"]),
        FireCase(expression: "0 9 * * *", zone: "Asia/Kolkata", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T03:30:00Z", "2026-01-02T03:30:00Z"]),
    ]

    static let macros: [FireCase] = [
        FireCase(expression: "@yearly", after: "2026-01-01T00:00:00Z", expected: ["2027-01-01T00:00:00Z"]),
        FireCase(expression: "@annually", after: "2026-01-01T00:00:00Z", expected: ["2027-01-01T00:00:00Z"]),
        FireCase(expression: "@monthly", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]),
        FireCase(expression: "@weekly", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
        FireCase(expression: "@daily", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
        FireCase(expression: "@midnight", after: "2026-01-01T00:00:00Z", expected: ["2026-01-02T00:00:00Z"]),
        FireCase(expression: "@hourly", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]),
        // Macros follow the zone's wall clock.
        FireCase(expression: "@daily", zone: "America/New_York", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T05:00:00Z", "2026-01-02T05:00:00Z"]),
    ]

    /// Multiples of the interval since 1970-01-01T00:00:00Z; 2026-01-01T00:00:00Z is one of each.
    static let intervals: [FireCase] = [
        FireCase(expression: "@every 30s", after: "2026-01-01T00:00:10Z",
                 expected: ["2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"]),
        FireCase(expression: "@every 5m", after: "2026-01-01T00:07:00Z",
                 expected: ["2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z"]),
        FireCase(expression: "@every 2h", after: "2026-01-01T01:00:00Z",
                 expected: ["2026-01-01T02:00:00Z", "2026-01-01T04:00:00Z"]),
        FireCase(expression: "@every 1h30m", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"]),
        // The time zone plays no part.
        FireCase(expression: "@every 7m", after: "2026-01-01T00:21:05Z",
                 expected: ["2026-01-01T00:28:00Z", "2026-01-01T00:35:00Z"]),
        FireCase(expression: "@every 7m", zone: "America/New_York", after: "2026-01-01T00:21:05Z",
                 expected: ["2026-01-01T00:28:00Z", "2026-01-01T00:35:00Z"]),
        FireCase(expression: "@every 1d", zone: "Asia/Kolkata", after: "2026-01-01T12:00:00Z",
                 expected: ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
        // An interval does not care about daylight saving either.
        FireCase(expression: "@every 1h", zone: "America/New_York", after: "2026-11-01T04:30:00Z",
                 expected: ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"]),
    ]

    static let calendarEdges: [FireCase] = [
        // The 31st skips the months that have none.
        FireCase(expression: "0 0 31 * *", after: "2026-01-31T00:00:00Z",
                 expected: ["2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"]),
        FireCase(expression: "0 0 29 2 *", after: "2025-01-01T00:00:00Z",
                 expected: ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        // 2100 is not a leap year: eight years between February 29ths.
        FireCase(expression: "0 0 29 2 *", after: "2096-03-01T00:00:00Z", expected: ["2104-02-29T00:00:00Z"]),
        // Both restricted: every 13th and every Friday (2026-03-13 is both, 2026-04-13 a Monday).
        FireCase(expression: "0 0 13 * FRI", after: "2026-03-01T00:00:00Z",
                 expected: ["2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z", "2026-03-20T00:00:00Z", "2026-03-27T00:00:00Z",
                            "2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z", "2026-04-13T00:00:00Z", "2026-04-17T00:00:00Z"]),
        // Vixie cron: a day of month starting with `*` makes the two fields combine with AND
        // (days 1, 11, 21, 31 that are Mondays), a written-out range with OR.
        FireCase(expression: "0 0 */10 * MON", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-05-11T00:00:00Z", "2026-06-01T00:00:00Z", "2026-08-31T00:00:00Z"]),
        FireCase(expression: "0 0 1-31/10 * MON", after: "2026-01-01T00:00:00Z",
                 expected: ["2026-01-05T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-12T00:00:00Z", "2026-01-19T00:00:00Z",
                            "2026-01-21T00:00:00Z"]),
    ]

    /// New York: 2026-03-08 02:00 EST → 03:00 EDT (07:00Z), 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).
    /// Berlin: 2026-03-29 02:00 CET → 03:00 CEST (01:00Z), 2026-10-25 03:00 CEST → 02:00 CET (01:00Z).
    /// Santiago: 2026-04-05 00:00 -03 → 04-04 23:00 -04 (03:00Z), 2026-09-06 00:00 -04 → 01:00 -03 (04:00Z).
    /// Lord Howe: 2026-04-05 02:00 +11 → 01:30 +10:30 (15:00Z on 04-04), 2026-10-04 02:00 +10:30 → 02:30 +11
    /// (15:30Z on 10-03).
    static let daylightSaving: [FireCase] = [
        // A skipped time fires once, at the end of the gap.
        FireCase(expression: "30 2 * * *", zone: "America/New_York", after: "2026-03-07T08:00:00Z",
                 expected: ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"]),
        FireCase(expression: "*/30 2 * * *", zone: "America/New_York", after: "2026-03-07T08:00:00Z",
                 expected: ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:00:00Z"]),
        // A repeated time fires once, at its first occurrence (EDT), even when asked from inside the repeat.
        FireCase(expression: "30 1 * * *", zone: "America/New_York", after: "2026-11-01T04:00:00Z",
                 expected: ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
        FireCase(expression: "30 1 * * *", zone: "America/New_York", after: "2026-11-01T06:00:00Z",
                 expected: ["2026-11-02T06:30:00Z"]),
        FireCase(expression: "0,30 1-3 * * *", zone: "America/New_York", after: "2026-11-01T04:00:00Z",
                 expected: ["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:30:00Z",
                            "2026-11-01T08:00:00Z", "2026-11-01T08:30:00Z", "2026-11-02T06:00:00Z"]),
        // Every hour: real time, both passes through the repeated hour, nothing for the skipped one.
        FireCase(expression: "*/30 * * * *", zone: "America/New_York", after: "2026-11-01T04:45:00Z",
                 expected: ["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z",
                            "2026-11-01T07:00:00Z"]),
        FireCase(expression: "*/30 * * * *", zone: "America/New_York", after: "2026-03-08T06:15:00Z",
                 expected: ["2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"]),
        FireCase(expression: "30 2 * * *", zone: "Europe/Berlin", after: "2026-03-28T12:00:00Z",
                 expected: ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
        FireCase(expression: "30 2,3 * * *", zone: "Europe/Berlin", after: "2026-03-28T12:00:00Z",
                 expected: ["2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"]),
        FireCase(expression: "30 2 * * *", zone: "Europe/Berlin", after: "2026-10-24T12:00:00Z",
                 expected: ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
        // 02:00 and 02:30 CEST, then 02:00 and 02:30 CET: four fires between 00:00Z and 01:59Z.
        FireCase(expression: "*/30 * * * *", zone: "Europe/Berlin", after: "2026-10-24T23:45:00Z",
                 expected: ["2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z",
                            "2026-10-25T02:00:00Z"]),
        // A repeat that crosses midnight back into Saturday.
        FireCase(expression: "45 23 * * SAT", zone: "America/Santiago", after: "2026-04-04T12:00:00Z",
                 expected: ["2026-04-05T02:45:00Z", "2026-04-12T03:45:00Z"]),
        FireCase(expression: "45 * * * SAT", zone: "America/Santiago", after: "2026-04-05T00:00:00Z",
                 expected: ["2026-04-05T00:45:00Z", "2026-04-05T01:45:00Z", "2026-04-05T02:45:00Z", "2026-04-05T03:45:00Z",
                            "2026-04-11T04:45:00Z"]),
        // A gap at midnight.
        FireCase(expression: "15 0 * * *", zone: "America/Santiago", after: "2026-09-05T12:00:00Z",
                 expected: ["2026-09-06T04:00:00Z", "2026-09-07T03:15:00Z"]),
        // Half-hour shifts.
        FireCase(expression: "10 2 * * *", zone: "Australia/Lord_Howe", after: "2026-10-02T22:00:00Z",
                 expected: ["2026-10-03T15:30:00Z", "2026-10-04T15:10:00Z"]),
        FireCase(expression: "50 1 * * *", zone: "Australia/Lord_Howe", after: "2026-04-03T22:00:00Z",
                 expected: ["2026-04-04T14:50:00Z", "2026-04-05T15:20:00Z"]),
        FireCase(expression: "*/20 * * * *", zone: "Australia/Lord_Howe", after: "2026-04-04T14:30:00Z",
                 expected: ["2026-04-04T14:40:00Z", "2026-04-04T15:10:00Z", "2026-04-04T15:30:00Z", "2026-04-04T15:50:00Z",
                            "2026-04-04T16:10:00Z"]),
    ]

    @Test(arguments: fieldForms)
    func fieldForm(_ testCase: FireCase) throws {
        #expect(try Self.fires(testCase) == testCase.expected)
    }

    @Test(arguments: macros)
    func macro(_ testCase: FireCase) throws {
        #expect(try Self.fires(testCase) == testCase.expected)
    }

    @Test(arguments: intervals)
    func interval(_ testCase: FireCase) throws {
        #expect(try Self.fires(testCase) == testCase.expected)
    }

    @Test(arguments: calendarEdges)
    func calendarEdge(_ testCase: FireCase) throws {
        #expect(try Self.fires(testCase) == testCase.expected)
    }

    @Test(arguments: daylightSaving)
    func daylightSavingTime(_ testCase: FireCase) throws {
        #expect(try Self.fires(testCase) == testCase.expected)
    }

    @Test(arguments: ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "* * 31 2 *"])
    func neverMatches(_ text: String) throws {
        let expression = try CronExpression(text, timeZoneIdentifier: "Europe/Berlin")
        #expect(expression.nextFireDate(after: try Self.date("2026-01-01T00:00:00Z")) == nil)
    }

    @Test func defaultsToGMTAndTrims() throws {
        let expression = try CronExpression("  @daily \n")
        #expect(expression.timeZone == .gmt)
        #expect(expression.text == "@daily")
        #expect(expression == (try CronExpression("@daily", timeZone: .gmt)))
        #expect(expression != (try CronExpression("@daily", timeZoneIdentifier: "Europe/Berlin")))
        #expect(try CronExpression("0 0 * * *", timeZoneIdentifier: "Europe/Berlin").timeZone.identifier == "Europe/Berlin")
    }

    // MARK: - Errors

    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var expression: String
        var description: String
        var testDescription: String { "'\(expression)'" }
    }

    static let errors: [ErrorCase] = [
        ErrorCase(expression: "61 * * * *", description: "minute: 61 is out of range 0-59"),
        ErrorCase(expression: "* 24 * * *", description: "hour: 24 is out of range 0-23"),
        ErrorCase(expression: "* * 0 * *", description: "day of month: 0 is out of range 1-31"),
        ErrorCase(expression: "* * * 13 *", description: "month: 13 is out of range 1-12"),
        ErrorCase(expression: "* * * * 8", description: "day of week: 8 is out of range 0-7"),
        ErrorCase(expression: "* * * *", description: "expression: expected 5 fields, found 4"),
        ErrorCase(expression: "* * * * * *", description: "expression: expected 5 fields, found 6"),
        ErrorCase(expression: "", description: "expression: expected 5 fields, found 0"),
        ErrorCase(expression: "*/0 * * * *", description: "minute: step in '*/0' must be at least 1"),
        ErrorCase(expression: "*/x * * * *", description: "minute: step in '*/x' is not a number"),
        ErrorCase(expression: "1/2/3 * * * *", description: "minute: '1/2/3' has more than one step"),
        ErrorCase(expression: "* * * * MON-XYZ", description: "day of week: 'XYZ' is not a number or a day name (SUN-SAT)"),
        ErrorCase(expression: "* * * FOO *", description: "month: 'FOO' is not a number or a month name (JAN-DEC)"),
        ErrorCase(expression: "a * * * *", description: "minute: 'a' is not a number"),
        ErrorCase(expression: "5-1 * * * *", description: "minute: range '5-1' ends before it starts"),
        ErrorCase(expression: "1-2-3 * * * *", description: "minute: '1-2-3' is not a range like 0-59"),
        ErrorCase(expression: "1,,2 * * * *", description: "minute: '1,,2' has an empty list item"),
        ErrorCase(expression: "@every 0s", description: "expression: @every needs an interval longer than zero, found '0s'"),
        ErrorCase(expression: "@every 5x", description: "expression: '5x' is not an interval like 30s, 5m, 2h or 1h30m"),
        ErrorCase(expression: "@every 1h30", description: "expression: '1h30' is not an interval like 30s, 5m, 2h or 1h30m"),
        ErrorCase(expression: "@every 36501d", description: "expression: @every interval '36501d' is longer than 36500d"),
        ErrorCase(expression: "@every", description: "expression: @every needs one interval like 30s, 5m, 2h or 1h30m, found '@every'"),
        ErrorCase(expression: "@daily 5", description: "expression: @daily takes no arguments, found '@daily 5'"),
        ErrorCase(
            expression: "@sometimes",
            description: "expression: unknown macro '@sometimes'; use @yearly, @annually, @monthly, @weekly, @daily, "
                + "@midnight, @hourly or @every <interval>"),
    ]

    @Test(arguments: errors)
    func rejects(_ testCase: ErrorCase) {
        #expect(throws: CronExpressionError.self) { try CronExpression(testCase.expression) }
        do {
            _ = try CronExpression(testCase.expression)
        } catch {
            #expect(error.description == testCase.description)
        }
    }

    @Test func errorNamesFieldAndValue() {
        #expect(throws: CronExpressionError(field: "minute", value: "61", reason: "61 is out of range 0-59")) {
            try CronExpression("61 * * * *")
        }
        #expect(throws: CronExpressionError(field: "day of week", value: "XYZ",
                                            reason: "'XYZ' is not a number or a day name (SUN-SAT)")) {
            try CronExpression("0 0 * * MON-XYZ")
        }
    }

    @Test func rejectsUnknownTimeZone() {
        do {
            _ = try CronExpression("@daily", timeZoneIdentifier: "Mars/Base")
            Issue.record("an unknown time zone was accepted")
        } catch {
            #expect(error.description == "time zone: unknown time zone 'Mars/Base'")
            #expect(error.field == "time zone")
            #expect(error.value == "Mars/Base")
        }
    }

    // MARK: - Against a minute-by-minute reference

    /// A 36-hour stretch around a UTC offset change (Kolkata has none).
    struct Window: Sendable, CustomTestStringConvertible {
        var zone: String
        var start: String
        var testDescription: String { "\(zone) from \(start)" }
    }

    /// An expression with its minutes, hours (`nil`: every hour) and weekdays (`Calendar`
    /// numbering, 1 is Sunday; `nil`: every day) written out for the reference.
    struct Schedule: Sendable, CustomTestStringConvertible {
        var expression: String
        var minutes: Set<Int>
        var hours: Set<Int>?
        var weekdays: Set<Int>? = nil
        var testDescription: String { expression }
    }

    static let windows: [Window] = [
        Window(zone: "America/New_York", start: "2026-03-07T12:00:00Z"),
        Window(zone: "America/New_York", start: "2026-10-31T12:00:00Z"),
        Window(zone: "Europe/Berlin", start: "2026-03-28T06:00:00Z"),
        Window(zone: "Europe/Berlin", start: "2026-10-24T06:00:00Z"),
        Window(zone: "Australia/Lord_Howe", start: "2026-04-03T22:00:00Z"),
        Window(zone: "Australia/Lord_Howe", start: "2026-10-02T22:00:00Z"),
        Window(zone: "America/Santiago", start: "2026-04-04T12:00:00Z"),
        Window(zone: "America/Santiago", start: "2026-09-05T12:00:00Z"),
        Window(zone: "Asia/Kolkata", start: "2026-06-01T00:00:00Z"),
    ]

    static let schedules: [Schedule] = [
        Schedule(expression: "*/15 * * * *", minutes: [0, 15, 30, 45], hours: nil),
        Schedule(expression: "*/20 0-23 * * *", minutes: [0, 20, 40], hours: nil),
        Schedule(expression: "30 2 * * *", minutes: [30], hours: [2]),
        Schedule(expression: "0,30 1-3 * * *", minutes: [0, 30], hours: [1, 2, 3]),
        Schedule(expression: "15 0 * * *", minutes: [15], hours: [0]),
        Schedule(expression: "50 1 * * *", minutes: [50], hours: [1]),
        Schedule(expression: "10 2 * * *", minutes: [10], hours: [2]),
        Schedule(expression: "45 23 * * SAT", minutes: [45], hours: [23], weekdays: [7]),
        Schedule(expression: "45 * * * SAT", minutes: [45], hours: nil, weekdays: [7]),
    ]

    @Test(arguments: windows, schedules)
    func agreesWithReference(_ window: Window, _ schedule: Schedule) throws {
        let zone = try #require(TimeZone(identifier: window.zone))
        let expression = try CronExpression(schedule.expression, timeZone: zone)
        let start = try Self.date(window.start)
        let end = start.addingTimeInterval(36 * 3_600)

        var computed: [Date] = []
        var cursor = start
        while let next = expression.nextFireDate(after: cursor), next < end {
            computed.append(next)
            cursor = next
        }
        #expect(computed == Self.referenceFires(schedule, zone: zone, start: start, end: end))
    }

    /// The rules stated on `CronExpression`, applied one real minute at a time: with every hour,
    /// fire whenever the wall clock matches; otherwise fire at the first occurrence of a matching
    /// wall time, and once at the end of a gap that skipped a matching time.
    static func referenceFires(_ schedule: Schedule, zone: TimeZone, start: Date, end: Date) -> [Date] {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        func wallTime(_ date: Date) -> Int {
            Int(date.timeIntervalSince1970) + zone.secondsFromGMT(for: date)
        }
        func matches(_ wall: Int) -> Bool {
            let parts = utc.dateComponents([.hour, .minute, .weekday], from: Date(timeIntervalSince1970: Double(wall)))
            return schedule.minutes.contains(parts.minute!)
                && schedule.hours.map { $0.contains(parts.hour!) } ?? true
                && schedule.weekdays.map { $0.contains(parts.weekday!) } ?? true
        }
        var fires: [Date] = []
        var seen: Set<Int> = []
        var previousWall = wallTime(start)
        var instant = start.addingTimeInterval(60)
        while instant < end {
            let wall = wallTime(instant)
            var fire: Bool
            if schedule.hours == nil {
                fire = matches(wall)
            } else {
                fire = matches(wall) && !seen.contains(wall)
                for skipped in stride(from: previousWall + 60, to: wall, by: 60) where matches(skipped) {
                    fire = true
                }
            }
            if fire {
                fires.append(instant)
            }
            seen.insert(wall)
            previousWall = wall
            instant = instant.addingTimeInterval(60)
        }
        return fires
    }

    // MARK: - Helpers

    static func fires(_ testCase: FireCase) throws -> [String] {
        let expression = try CronExpression(testCase.expression, timeZoneIdentifier: testCase.zone)
        var cursor = try date(testCase.after)
        var result: [String] = []
        for _ in testCase.expected {
            guard let next = expression.nextFireDate(after: cursor) else { break }
            result.append(next.formatted(.iso8601))
            cursor = next
        }
        return result
    }

    static func date(_ text: String) throws -> Date {
        try Date(text, strategy: .iso8601)
    }
}
