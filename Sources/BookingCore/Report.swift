import Foundation

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
