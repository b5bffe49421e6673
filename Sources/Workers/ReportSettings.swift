import BookingCore
import Foundation

/// Where and how often reports are built, from jobs.conf `[reports]`.
public struct ReportSettings: Sendable {
    /// The folder CSV files are written to; created when missing.
    public var directory: URL
    /// The period a `report.build` job without one reports on.
    public var period: ReportPeriod

    public init(directory: URL, period: ReportPeriod = .daily) {
        self.directory = directory
        self.period = period
    }
}
