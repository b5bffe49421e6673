import BookingCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v1/reports` (admin): the reports `report.build` jobs stored, as JSON or as CSV.
///
/// The CSV is rendered from the stored report, the same bytes as the file the job wrote, so it
/// is served whichever machine wrote the file.
struct ReportRoutes: Sendable {
    let api: BookingAPI

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.get("/v1/reports") { request, context in
            _ = try await api.admin(context)
            let query = request.uri.queryParameters
            let period = try query.get("period").map { text in
                guard let period = ReportPeriod(rawValue: text) else {
                    throw APIError.badRequest("'period' must be one of: \(ReportPeriod.allCases.map(\.rawValue).joined(separator: ", "))",
                                              field: "period")
                }
                return period
            }
            let page = try Page(request, defaultLimit: 50)
            let reports = try await api.replicaRead {
                try await ReportStore(logger: api.logger).list(period: period, limit: page.fetchLimit, offset: page.offset, on: $0)
            }
            return try page.respond(reports.map(ReportBody.init), request: request)
        }
        router.get("/v1/reports/:id") { request, context in
            _ = try await api.admin(context)
            let id = try BookingAPI.uuid(context)
            guard let report = try await api.replicaRead({ try await ReportStore(logger: api.logger).get(id: id, on: $0) }) else {
                throw APIError.notFound("report")
            }
            if Self.prefersCSV(request.headers[.accept]) {
                return Response(status: .ok,
                                headers: [.contentType: "text/csv; charset=utf-8",
                                          .contentDisposition: "attachment; filename=\"\(report.csvFileName)\""],
                                body: .init(byteBuffer: ByteBuffer(string: report.csv)))
            }
            return try JSONResponse.make(ReportBody(report, withLines: true))
        }
    }

    /// Whether `accept` names `text/csv` with a quality (q) at least that of JSON
    /// (`application/json` or a wildcard covering it). Without the header, or when only
    /// wildcards are named, the answer is JSON.
    static func prefersCSV(_ accept: String?) -> Bool {
        guard let accept else { return false }
        var csv = 0.0, json = 0.0, csvExact = false
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let type = parts.first else { continue }
            let q = parts.dropFirst().compactMap { $0.hasPrefix("q=") ? Double($0.dropFirst(2)) : nil }.first ?? 1
            switch type {
            case "text/csv": csv = max(csv, q); csvExact = true
            case "application/json": json = max(json, q)
            case "text/*": if !csvExact { csv = max(csv, q) }
            case "application/*", "*/*": json = max(json, q)
            default: break
            }
        }
        return csvExact && csv > 0 && csv >= json
    }
}

// Response bodies: money as decimal strings, ids as lowercase UUIDs.

struct ReportBody: Encodable {
    var id: String
    var period: String
    var periodStart: Date
    var periodEnd: Date
    var builtAt: Date
    var csvPath: String?
    var eventCount: Int
    var totals: ReportFiguresBody
    /// Only on a single report.
    var lines: [ReportLineBody]?

    init(_ report: Report) {
        self.init(report, withLines: false)
    }

    init(_ report: Report, withLines: Bool) {
        id = report.id.lowercased
        period = report.period.rawValue
        periodStart = report.periodStart
        periodEnd = report.periodEnd
        builtAt = report.builtAt
        csvPath = report.csvPath
        eventCount = report.eventCount
        totals = ReportFiguresBody(report.totals)
        lines = withLines ? report.lines.map(ReportLineBody.init) : nil
    }

    enum CodingKeys: String, CodingKey {
        case id, period, totals, lines
        case periodStart = "period_start", periodEnd = "period_end", builtAt = "built_at", csvPath = "csv_path"
        case eventCount = "event_count"
    }
}

struct ReportFiguresBody: Encodable {
    var bookings: Int
    var seats: Int
    var revenue: String
    var cancellations: Int
    var cancelledSeats: Int
    var confirmedSeats: Int
    var capacity: Int
    var utilisation: Decimal
    var waitlist: Int

    init(_ figures: ReportFigures) {
        bookings = figures.bookings
        seats = figures.seats
        revenue = Money.text(figures.revenue)
        cancellations = figures.cancellations
        cancelledSeats = figures.cancelledSeats
        confirmedSeats = figures.confirmedSeats
        capacity = figures.capacity
        utilisation = figures.utilisation
        waitlist = figures.waitlist
    }

    enum CodingKeys: String, CodingKey {
        case bookings, seats, revenue, cancellations, capacity, utilisation, waitlist
        case cancelledSeats = "cancelled_seats", confirmedSeats = "confirmed_seats"
    }
}

struct ReportLineBody: Encodable {
    var eventID: String
    var eventName: String
    var eventStartsAt: Date
    var figures: ReportFiguresBody

    init(_ line: ReportLine) {
        eventID = line.eventID.lowercased
        eventName = line.eventName
        eventStartsAt = line.eventStartsAt
        figures = ReportFiguresBody(line.figures)
    }

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id", eventName = "event_name", eventStartsAt = "event_starts_at"
    }

    /// The event's fields and its figures side by side in one object.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(eventID, forKey: .eventID)
        try container.encode(eventName, forKey: .eventName)
        try container.encode(eventStartsAt, forKey: .eventStartsAt)
        try figures.encode(to: encoder)
    }
}
