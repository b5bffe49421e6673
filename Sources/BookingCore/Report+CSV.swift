import Foundation

extension Report {
    /// The CSV columns, in order.
    public static let csvHeader = [
        "event_id", "event_name", "event_starts_at", "bookings", "seats", "revenue", "cancellations",
        "cancelled_seats", "confirmed_seats", "capacity", "utilisation", "waitlist",
    ]

    /// The report as RFC 4180 CSV: a header row, one row per line, then a row whose `event_id` is
    /// `TOTAL`; CRLF line ends; money with two decimals, utilisation with four.
    ///
    /// A function of the stored report only, so the file a job writes and the CSV the intake
    /// serves are the same bytes, however often either is produced.
    public var csv: String {
        var rows = [Self.csvHeader]
        for line in lines {
            rows.append([line.eventID.uuidString.lowercased(), line.eventName, Self.timestamp(line.eventStartsAt)]
                        + Self.csvFields(line.figures))
        }
        rows.append(["TOTAL", "", ""] + Self.csvFields(totals))
        return rows.map { $0.map(Self.csvField).joined(separator: ",") + "\r\n" }.joined()
    }

    /// `report-<period>-<start>.csv`, the start in ISO 8601 basic format (no colons, which some
    /// file systems refuse), e.g. `report-daily-20250914T000000Z.csv`.
    public var csvFileName: String {
        Self.csvFileName(period: period, start: periodStart)
    }

    /// The file name of the report of `period` starting at `start`.
    public static func csvFileName(period: ReportPeriod, start: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: start)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        let stamp = "\(c.year ?? 0)\(two(c.month))\(two(c.day))T\(two(c.hour))\(two(c.minute))\(two(c.second))Z"
        return "report-\(period.rawValue)-\(stamp).csv"
    }

    static func csvFields(_ figures: ReportFigures) -> [String] {
        [String(figures.bookings), String(figures.seats), fixed(figures.revenue, places: 2), String(figures.cancellations),
         String(figures.cancelledSeats), String(figures.confirmedSeats), String(figures.capacity),
         fixed(figures.utilisation, places: 4), String(figures.waitlist)]
    }

    /// Quoted when it holds a comma, a quote or a line break; quotes inside are doubled.
    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = .gmt
        return formatter.string(from: date)
    }

    /// `value` rounded half away from zero with exactly `places` decimals, e.g. "30.00".
    static func fixed(_ value: Decimal, places: Int) -> String {
        var source = value
        var rounded = Decimal()
        NSDecimalRound(&rounded, &source, places, .plain)
        // Decimal's description is locale-independent plain notation ("105.5", "-3").
        let text = "\(rounded)"
        let parts = text.split(separator: ".", maxSplits: 1)
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        return String(parts[0]) + "." + fraction + String(repeating: "0", count: max(0, places - fraction.count))
    }
}
