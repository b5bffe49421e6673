import Foundation

/// How long a report's period is. Periods are whole UTC hours or days.
public enum ReportPeriod: String, Sendable, Codable, Hashable, CaseIterable {
    case hourly
    case daily

    /// The period's length in seconds. Unix time has no leap seconds, so a UTC day is always 86 400.
    public var length: TimeInterval {
        switch self {
        case .hourly: 3_600
        case .daily: 86_400
        }
    }

    /// The start of the period that contains `date`.
    public func start(containing date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / length).rounded(.down) * length)
    }

    /// The end (exclusive) of the period that begins at `start`.
    public func end(startingAt start: Date) -> Date {
        start.addingTimeInterval(length)
    }

    /// The start of the last period that is over at `now`: yesterday for `daily`, the previous
    /// hour for `hourly`.
    public func lastComplete(before now: Date) -> Date {
        start(containing: now).addingTimeInterval(-length)
    }
}
