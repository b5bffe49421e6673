import Foundation

/// A cron schedule: five fields, a macro or an `@every` interval, in a time zone.
///
/// Accepted forms:
/// - Five fields separated by spaces: minute (0-59), hour (0-23), day of month (1-31), month
///   (1-12 or `JAN`-`DEC`) and day of week (0-7, where 0 and 7 are Sunday, or `SUN`-`SAT`).
///   Each field is `*` or a comma-separated list of items; an item is a value (`5`, `MON`), a
///   range (`1-5`, `MON-FRI`), or either of those or `*` followed by a step (`*/15`, `8-18/2`;
///   `5/15` means `5-59/15`). Names are case-insensitive.
/// - Day of month and day of week combine as in Vixie cron: when both are restricted a day
///   matches if either matches; when either starts with `*` (`*` or `*/n`), a day must match
///   both, so `0 0 * * MON` is every Monday and `0 0 */10 * MON` the 1st, 11th, 21st and 31st
///   that are Mondays.
/// - Macros (case-insensitive): `@yearly` and `@annually` (`0 0 1 1 *`), `@monthly` (`0 0 1 * *`), `@weekly`
///   (`0 0 * * 0`), `@daily` and `@midnight` (`0 0 * * *`), `@hourly` (`0 * * * *`).
/// - `@every` with a positive interval of days, hours, minutes and seconds added up, at most
///   `36500d`: `@every 30s`, `@every 5m`, `@every 1h30m`, `@every 1d`. It fires at every multiple
///   of the interval counted from the Unix epoch (1970-01-01T00:00:00Z), so every daemon computes
///   the same ticks, and the time zone plays no part.
///
/// Field schedules are matched against the wall clock of `timeZone`. Where daylight saving time
/// makes the wall clock skip or repeat, the rule depends on the hour field:
/// - **Hour field matching every hour** (`*`, `*/1`, `0-23`), e.g. `*/15 * * * *`: the schedule
///   follows real time. It fires at every instant whose wall-clock time matches, so in a repeated
///   hour it fires in both passes (`*/30 * * * *` fires at 02:00 and 02:30 twice when Berlin falls
///   back from 03:00 CEST to 02:00 CET), and wall-clock times skipped by a gap are not fired.
/// - **Restricted hour field**, e.g. `30 2 * * *`: the schedule fires once per matching
///   wall-clock time. A time that occurs twice fires only at its first occurrence (`30 1 * * *`
///   on New York's fall-back day fires at 01:30 EDT, not again at 01:30 EST). A time skipped by a
///   gap fires at the first instant after the gap, once however many skipped times match
///   (`30 2 * * *` on New York's spring-forward day fires at 03:00 EDT).
///
/// Two expressions are equal when their text (trimmed) and time zone are equal.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    /// The expression as written, without surrounding whitespace.
    public let text: String
    /// The zone whose wall clock the fields are matched against.
    public let timeZone: TimeZone
    private let schedule: Schedule

    /// Parses `text` as a five-field expression, a macro or an `@every` interval.
    ///
    /// - Throws: `CronExpressionError` naming the field and value that is wrong, e.g.
    ///   `minute: 61 is out of range 0-59`.
    public init(_ text: String, timeZone: TimeZone = .gmt) throws(CronExpressionError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        schedule = try Schedule(parsing: trimmed)
        self.text = trimmed
        self.timeZone = timeZone
    }

    /// Parses `text` in the time zone with the IANA name `timeZoneIdentifier`
    /// (e.g. `Europe/Berlin`).
    ///
    /// - Throws: `CronExpressionError` for an unknown time zone
    ///   (`time zone: unknown time zone 'Mars/Base'`) or a malformed expression.
    public init(_ text: String, timeZoneIdentifier: String) throws(CronExpressionError) {
        guard let zone = TimeZone(identifier: timeZoneIdentifier) else {
            throw CronExpressionError(
                field: "time zone", value: timeZoneIdentifier,
                reason: "unknown time zone '\(timeZoneIdentifier)'")
        }
        try self.init(text, timeZone: zone)
    }

    /// The expression and its zone, e.g. `30 2 * * * (Europe/Berlin)`.
    public var description: String { "\(text) (\(timeZone.identifier))" }

    /// The first time the schedule fires strictly after `date`, following the daylight-saving
    /// rules above; `nil` when the fields can never match (e.g. `0 0 30 2 *`) or `date` is not
    /// a usable time.
    public func nextFireDate(after date: Date) -> Date? {
        let seconds = date.timeIntervalSince1970
        // Within about three million years of 1970: far enough, and no overflow below.
        guard seconds.isFinite, abs(seconds) < 1e14 else { return nil }
        // Fire times are whole seconds, so `t > date` is `t > floor(date)`.
        let after = Int(seconds.rounded(.down))
        let next: Int?
        switch schedule {
        case .interval(let interval):
            next = (after.floorDivided(by: interval) + 1) * interval
        case .fields(let fields):
            let clock = WallClock(timeZone: timeZone)
            next = fields.matchesEveryHour
                ? fields.nextInstantFollowingRealTime(after: after, clock: clock)
                : fields.nextInstantOncePerWallTime(after: after, clock: clock)
        }
        return next.map { Date(timeIntervalSince1970: Double($0)) }
    }
}

// MARK: - Parsing

extension CronExpression {
    fileprivate enum Schedule: Sendable, Equatable {
        case fields(Fields)
        /// Seconds, at least 1.
        case interval(Int)

        private static let macros: [String: String] = [
            "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
            "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
            "@hourly": "0 * * * *",
        ]

        init(parsing text: String) throws(CronExpressionError) {
            let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = words.first, first.hasPrefix("@") else {
                self = .fields(try Fields(parsing: words, text: text))
                return
            }
            let macro = first.lowercased()
            if macro == "@every" {
                guard words.count == 2 else {
                    throw CronExpressionError(
                        field: "expression", value: text,
                        reason: "@every needs one interval like 30s, 5m, 2h or 1h30m, found '\(text)'")
                }
                self = .interval(try Self.interval(parsing: words[1]))
            } else if let expansion = Self.macros[macro] {
                guard words.count == 1 else {
                    throw CronExpressionError(
                        field: "expression", value: text,
                        reason: "\(first) takes no arguments, found '\(text)'")
                }
                self = .fields(try Fields(parsing: expansion.split(separator: " "), text: expansion))
            } else {
                throw CronExpressionError(
                    field: "expression", value: String(first),
                    reason: "unknown macro '\(first)'; use @yearly, @annually, @monthly, @weekly, "
                        + "@daily, @midnight, @hourly or @every <interval>")
            }
        }

        /// `30s`, `5m`, `2h`, `1d`, or several of them added up (`1h30m`).
        private static func interval(parsing text: Substring) throws(CronExpressionError) -> Int {
            let malformed = CronExpressionError(
                field: "expression", value: String(text),
                reason: "'\(text)' is not an interval like 30s, 5m, 2h or 1h30m")
            let maximum = 36_500 * 86_400
            var total = 0
            var digits = ""
            for character in text.lowercased() {
                if character.isASCII, character.isNumber {
                    guard digits.count < 9 else { throw malformed }
                    digits.append(character)
                    continue
                }
                let unit: Int
                switch character {
                case "s": unit = 1
                case "m": unit = 60
                case "h": unit = 3_600
                case "d": unit = 86_400
                default: throw malformed
                }
                guard let amount = Int(digits) else { throw malformed }
                total += amount * unit
                digits = ""
                guard total <= maximum else {
                    throw CronExpressionError(
                        field: "expression", value: String(text),
                        reason: "@every interval '\(text)' is longer than 36500d")
                }
            }
            guard digits.isEmpty, !text.isEmpty else { throw malformed }
            guard total > 0 else {
                throw CronExpressionError(
                    field: "expression", value: String(text),
                    reason: "@every needs an interval longer than zero, found '\(text)'")
            }
            return total
        }
    }

    /// The five fields as bit sets: bit `n` set means value `n` matches.
    fileprivate struct Fields: Sendable, Equatable {
        var minutes: UInt64
        var hours: UInt64
        var daysOfMonth: UInt64
        var months: UInt64
        /// Sunday is bit 0; a 7 in the text is stored as 0.
        var daysOfWeek: UInt64
        /// Whether the day-of-month field starts with `*` (Vixie cron's rule for combining it
        /// with the day of week).
        var dayOfMonthIsStar: Bool
        var dayOfWeekIsStar: Bool

        init(parsing words: [Substring], text: String) throws(CronExpressionError) {
            guard words.count == 5 else {
                throw CronExpressionError(
                    field: "expression", value: text,
                    reason: "expected 5 fields, found \(words.count)")
            }
            minutes = try FieldKind.minute.parse(words[0])
            hours = try FieldKind.hour.parse(words[1])
            daysOfMonth = try FieldKind.dayOfMonth.parse(words[2])
            months = try FieldKind.month.parse(words[3])
            daysOfWeek = try FieldKind.dayOfWeek.parse(words[4])
            if daysOfWeek & (1 << 7) != 0 {
                daysOfWeek = daysOfWeek & ~(1 << 7) | 1
            }
            dayOfMonthIsStar = words[2].hasPrefix("*")
            dayOfWeekIsStar = words[4].hasPrefix("*")
        }

        var matchesEveryHour: Bool { hours == (1 << 24) - 1 }

        func matches(day: Int, weekday: Int) -> Bool {
            let dayOfMonth = daysOfMonth & (1 << day) != 0
            let dayOfWeek = daysOfWeek & (1 << weekday) != 0
            if dayOfMonthIsStar || dayOfWeekIsStar {
                return dayOfMonth && dayOfWeek
            }
            return dayOfMonth || dayOfWeek
        }
    }

    fileprivate struct FieldKind: Sendable {
        var name: String
        var range: ClosedRange<Int>
        /// Three-letter names for `range.lowerBound`, `range.lowerBound + 1`, ...
        var names: [String] = []
        var nameHint = ""

        static let minute = FieldKind(name: "minute", range: 0...59)
        static let hour = FieldKind(name: "hour", range: 0...23)
        static let dayOfMonth = FieldKind(name: "day of month", range: 1...31)
        static let month = FieldKind(
            name: "month", range: 1...12,
            names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
            nameHint: " or a month name (JAN-DEC)")
        static let dayOfWeek = FieldKind(
            name: "day of week", range: 0...7,
            names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
            nameHint: " or a day name (SUN-SAT)")

        func error(_ value: some StringProtocol, _ reason: String) -> CronExpressionError {
            CronExpressionError(field: name, value: String(value), reason: reason)
        }

        /// A comma-separated list of `*`, values and ranges, each with an optional `/step`.
        func parse(_ text: Substring) throws(CronExpressionError) -> UInt64 {
            var bits: UInt64 = 0
            for item in text.split(separator: ",", omittingEmptySubsequences: false) {
                guard !item.isEmpty else { throw error(text, "'\(text)' has an empty list item") }
                let parts = item.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count <= 2 else { throw error(item, "'\(item)' has more than one step") }
                var step = 1
                if parts.count == 2 {
                    guard let number = Self.number(parts[1]) else {
                        throw error(item, "step in '\(item)' is not a number")
                    }
                    guard number >= 1 else { throw error(item, "step in '\(item)' must be at least 1") }
                    step = number
                }
                let low: Int
                let high: Int
                if parts[0] == "*" {
                    low = range.lowerBound
                    high = range.upperBound
                } else if parts[0].contains("-") {
                    let ends = parts[0].split(separator: "-", omittingEmptySubsequences: false)
                    guard ends.count == 2, !ends[0].isEmpty, !ends[1].isEmpty else {
                        throw error(parts[0], "'\(parts[0])' is not a range like \(range.lowerBound)-\(range.upperBound)")
                    }
                    low = try value(ends[0])
                    high = try value(ends[1])
                    guard low <= high else {
                        throw error(parts[0], "range '\(parts[0])' ends before it starts")
                    }
                } else {
                    low = try value(parts[0])
                    // `a/n` runs from a to the end of the field.
                    high = parts.count == 2 ? range.upperBound : low
                }
                for value in stride(from: low, through: high, by: step) {
                    bits |= 1 << UInt64(value)
                }
            }
            return bits
        }

        /// A number within `range`, or a name.
        private func value(_ text: Substring) throws(CronExpressionError) -> Int {
            if let index = names.firstIndex(of: text.uppercased()) {
                return range.lowerBound + index
            }
            guard text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw error(text, "'\(text)' is not a number\(nameHint)")
            }
            guard let number = Self.number(text), range.contains(number) else {
                throw error(text, "\(text) is out of range \(range.lowerBound)-\(range.upperBound)")
            }
            return number
        }

        /// Decimal digits only; absurdly long numbers come back as a large value.
        private static func number(_ text: Substring) -> Int? {
            guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return text.count > 9 ? 1_000_000_000 : Int(text)
        }
    }
}

// MARK: - Searching

extension CronExpression.Fields {
    /// For schedules matching every hour: the first instant after `after` whose wall-clock
    /// time matches, walking real time through each matching day.
    fileprivate func nextInstantFollowingRealTime(after: Int, clock: WallClock) -> Int? {
        let earliest = after + 1
        let startDay = (earliest + clock.offset(at: earliest)).floorDivided(by: 86_400)
        var day = nextMatchingDay(onOrAfter: startDay)
        while let current = day {
            let dayEnd = clock.firstInstant(atOrAfterWallTime: (current + 1) * 86_400)
            var segmentStart = max(earliest, clock.firstInstant(atOrAfterWallTime: current * 86_400))
            // Each stretch of constant UTC offset; a day holds at most one transition.
            while segmentStart < dayEnd {
                let offset = clock.offset(at: segmentStart)
                let segmentEnd = clock.offset(at: dayEnd - 1) == offset
                    ? dayEnd
                    : clock.firstChange(after: segmentStart, before: dayEnd - 1)
                let wall = (segmentStart + offset + 59).floorDivided(by: 60) * 60
                let minute = (wall / 60).floorModulo(60)
                let candidate = wall + minutesUntilMatch(from: minute) * 60 - offset
                if candidate < segmentEnd {
                    return candidate
                }
                segmentStart = segmentEnd
            }
            day = nextMatchingDay(onOrAfter: current + 1)
        }
        return nil
    }

    /// For schedules with a restricted hour: the first instant after `after` that one matching
    /// wall-clock time maps to (its first occurrence, or the end of the gap that skipped it).
    /// That mapping never goes backwards, so wall-clock order is fire order.
    fileprivate func nextInstantOncePerWallTime(after: Int, clock: WallClock) -> Int? {
        let wall = after + clock.offset(at: after)
        let startDay = wall.floorDivided(by: 86_400)
        // Matching wall times before the wall time of `after` all map to `after` or earlier.
        let startMinute = wall.floorModulo(86_400) / 60
        var day = nextMatchingDay(onOrAfter: startDay)
        while let current = day {
            let firstMinute = current == startDay ? startMinute : 0
            for hour in firstMinute / 60..<24 where hours & (1 << hour) != 0 {
                for minute in 0..<60 where minutes & (1 << minute) != 0 && hour * 60 + minute >= firstMinute {
                    let instant = clock.firstInstant(atOrAfterWallTime: current * 86_400 + hour * 3_600 + minute * 60)
                    if instant > after {
                        return instant
                    }
                }
            }
            day = nextMatchingDay(onOrAfter: current + 1)
        }
        return nil
    }

    /// Minutes from `minute` to the next matching minute of the hour, `minute` itself included
    /// (0...59), or into the next hour (60...119).
    private func minutesUntilMatch(from minute: Int) -> Int {
        for delta in 0..<120 where minutes & (1 << ((minute + delta) % 60)) != 0 {
            return delta
        }
        return 0
    }

    /// The first day (days since 1970-01-01) on or after `day` whose month, day of month and
    /// day of week match. The calendar repeats every 400 years, so a day not found by then
    /// never comes.
    private func nextMatchingDay(onOrAfter day: Int) -> Int? {
        var (year, month, dayOfMonth) = CivilDate.components(ofDay: day)
        let lastYear = year + 400
        while year <= lastYear {
            if months & (1 << month) == 0 || dayOfMonth > CivilDate.daysIn(month: month, year: year) {
                dayOfMonth = 1
                month += 1
                if month > 12 {
                    month = 1
                    year += 1
                }
                continue
            }
            let candidate = CivilDate.day(year: year, month: month, day: dayOfMonth)
            if matches(day: dayOfMonth, weekday: (candidate + 4).floorModulo(7)) {
                return candidate
            }
            dayOfMonth += 1
        }
        return nil
    }
}

/// Converts between instants and wall-clock times of a zone, both as whole seconds since
/// 1970-01-01T00:00:00 (UTC for instants; the zone's local clock read as if it were UTC for
/// wall times). Assumes UTC offset transitions are more than a day apart, as in the tz database.
private struct WallClock {
    var timeZone: TimeZone

    func offset(at instant: Int) -> Int {
        timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
    }

    /// The first instant whose wall clock reads `wall`, or, when a gap skips `wall`, the
    /// instant the gap ends.
    func firstInstant(atOrAfterWallTime wall: Int) -> Int {
        // The instants reading `wall` lie within 14 hours of it; the offsets a day either side
        // are those before and after any transition nearby.
        let before = offset(at: wall - 86_400)
        let after = offset(at: wall + 86_400)
        let readings = [wall - before, wall - after].filter { offset(at: $0) == wall - $0 }
        if let first = readings.min() {
            return first
        }
        // A gap: the clock jumps from below `wall` (offset `before`) to above it (`after`).
        guard wall - after < wall - before else { return wall - before }
        return firstChange(after: wall - after, before: wall - before)
    }

    /// The first instant in `(start, end]` whose offset differs from the offset at `start`,
    /// given that the offset at `end` differs.
    func firstChange(after start: Int, before end: Int) -> Int {
        let original = offset(at: start)
        var low = start
        var high = end
        while high - low > 1 {
            let middle = low + (high - low) / 2
            if offset(at: middle) == original {
                low = middle
            } else {
                high = middle
            }
        }
        return high
    }
}

/// Proleptic Gregorian dates as days since 1970-01-01 (Howard Hinnant's algorithms).
private enum CivilDate {
    static func day(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear.floorDivided(by: 400)
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func components(ofDay day: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = day + 719_468
        let era = shifted.floorDivided(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, dayOfMonth)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension Int {
    fileprivate func floorDivided(by divisor: Int) -> Int {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(_ divisor: Int) -> Int {
        self - floorDivided(by: divisor) * divisor
    }
}
