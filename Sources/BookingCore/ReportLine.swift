import Foundation

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
