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

/// The figures of one event, or their totals, for a report's period `[start, end)`.
public struct ReportFigures: Sendable, Equatable, Codable {
    /// Bookings made in the period, whatever their status now.
    public var bookings: Int
    /// Seats of those bookings.
    public var seats: Int
    /// What the bookings made in the period paid, counting those still confirmed when the
    /// report was built.
    public var revenue: Decimal
    /// Bookings cancelled (or refunded) in the period, whenever they were made.
    public var cancellations: Int
    /// Seats of those cancellations.
    public var cancelledSeats: Int
    /// Seats of bookings confirmed at the end of the period (made before it ended and not
    /// cancelled by then).
    public var confirmedSeats: Int
    /// The events' total capacity when the report was built.
    public var capacity: Int
    /// `confirmedSeats / capacity`, rounded to four places (0 without capacity).
    public var utilisation: Decimal
    /// Waitlist entries waiting when the report was built.
    public var waitlist: Int

    public init(bookings: Int, seats: Int, revenue: Decimal, cancellations: Int, cancelledSeats: Int,
                confirmedSeats: Int, capacity: Int, utilisation: Decimal, waitlist: Int) {
        self.bookings = bookings
        self.seats = seats
        self.revenue = revenue
        self.cancellations = cancellations
        self.cancelledSeats = cancelledSeats
        self.confirmedSeats = confirmedSeats
        self.capacity = capacity
        self.utilisation = utilisation
        self.waitlist = waitlist
    }
}

/// One event's line in a report.
public struct ReportLine: Sendable, Equatable, Codable {
    public var eventID: UUID
    /// The event's name and start when the report was built.
    public var eventName: String
    public var eventStartsAt: Date
    public var figures: ReportFigures

    public init(eventID: UUID, eventName: String, eventStartsAt: Date, figures: ReportFigures) {
        self.eventID = eventID
        self.eventName = eventName
        self.eventStartsAt = eventStartsAt
        self.figures = figures
    }
}

/// The analytics of one period, built once (see ``ReportStore/build(period:start:now:on:)``).
///
/// Its lines are the events with activity in the period: a booking made or cancelled, or a
/// waitlist entry joined, in `[periodStart, periodEnd)`.
public struct Report: Sendable, Equatable, Codable, Identifiable {
    public var id: UUID
    public var period: ReportPeriod
    public var periodStart: Date
    public var periodEnd: Date
    public var builtAt: Date
    /// Where the CSV file was written; `nil` until it has been.
    public var csvPath: String?
    /// How many events have a line.
    public var eventCount: Int
    /// The lines summed; `utilisation` is the summed confirmed seats over the summed capacity.
    public var totals: ReportFigures
    /// By event start, then event id. Empty in ``ReportStore/list(period:limit:on:)`` results.
    public var lines: [ReportLine]

    public init(id: UUID, period: ReportPeriod, periodStart: Date, periodEnd: Date, builtAt: Date, csvPath: String?,
                eventCount: Int, totals: ReportFigures, lines: [ReportLine]) {
        self.id = id
        self.period = period
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.builtAt = builtAt
        self.csvPath = csvPath
        self.eventCount = eventCount
        self.totals = totals
        self.lines = lines
    }
}
