import BookingCore
import Foundation
import Workers

extension JobsConfig {
    /// Where `report.build` writes CSV files, as an absolute URL, and its default period.
    var reports: ReportSettings {
        ReportSettings(directory: url(relativeToConfig: reportsDirectory), period: reportPeriod)
    }
}

extension ConfReader {
    /// `[reports]`: `directory` and `period`.
    mutating func reports() throws(ConfigError) -> (directory: String, period: ReportPeriod) {
        let directory = try string("reports", "directory") ?? "reports"
        let period = try string("reports", "period") { text throws(ConfValue.ParseError) -> ReportPeriod in
            guard let period = ReportPeriod(rawValue: text) else {
                throw ConfValue.ParseError(message: "must be \"daily\" or \"hourly\", found \"\(text)\"")
            }
            return period
        }
        return (directory, period ?? .daily)
    }
}
