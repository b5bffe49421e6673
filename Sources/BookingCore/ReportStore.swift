import Foundation
import Logging
import PostgresNIO

/// The `reports` and `report_lines` tables: building a period's report once, and reading reports.
///
/// The figures of an event for `[start, end)`:
/// - **bookings, seats**: bookings made (`created_at`) in the period, whatever their status now;
/// - **revenue**: `sum(total_amount)` of the bookings made in the period that are still
///   `confirmed` when the report is built (cancelled and refunded ones earned nothing);
/// - **cancellations, cancelled seats**: bookings whose `cancelled_at` falls in the period
///   (cancelled or refunded), whenever they were made;
/// - **confirmed seats**: seats of bookings confirmed at the end of the period (made before it
///   ended, not cancelled before it ended), so it does not depend on when the report is built;
/// - **utilisation**: confirmed seats / `total_capacity` (the capacity when the report is built),
///   rounded to four places; seats held by open waitlist offers do not count;
/// - **waitlist**: entries in status `waiting` when the report is built.
///
/// An event has a line when something happened to it in the period: a booking made or cancelled,
/// or a waitlist entry joined. The totals sum the lines; their utilisation is summed confirmed
/// seats over summed capacity.
public struct ReportStore: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Builds the report of the `period` that contains `start`, unless one exists already.
    ///
    /// One statement computes the figures and inserts the report and its lines, with
    /// `ON CONFLICT (period, period_start) DO NOTHING`: however many callers build one period at
    /// once, one inserts and the others (waiting on the unique key until it commits) insert
    /// nothing and read the stored report. Run it outside a REPEATABLE READ transaction, or a
    /// caller that lost the race cannot see the winner's row.
    /// - Parameter now: the build time, stored as `built_at`.
    /// - Returns: the stored report, and whether this call built it.
    public func build(period: ReportPeriod, start: Date, now: Date,
                      on connection: PostgresConnection) async throws -> (report: Report, built: Bool) {
        let start = period.start(containing: start)
        let end = period.end(startingAt: start)
        // Activity comes from three range scans (bookings_created_idx, bookings_cancelled_idx,
        // waitlist_joined_idx); each active event's bookings are then read once through
        // bookings_event_idx and its line through waitlist_line_idx. Data-modifying CTEs run
        // once and to completion whether or not the final SELECT reads them.
        let inserted = try await connection.firstRow("""
            WITH active AS (
                SELECT event_id FROM evently.bookings WHERE created_at >= \(start) AND created_at < \(end)
                UNION
                SELECT event_id FROM evently.bookings WHERE cancelled_at >= \(start) AND cancelled_at < \(end)
                UNION
                SELECT event_id FROM evently.waitlist WHERE joined_at >= \(start) AND joined_at < \(end)
            ), lines AS (
                SELECT e.id AS event_id, e.name AS event_name, e.starts_at AS event_starts_at, e.total_capacity AS capacity,
                       b.bookings, b.seats, b.revenue, b.cancellations, b.cancelled_seats, b.confirmed_seats,
                       round(b.confirmed_seats::numeric / e.total_capacity, 4) AS utilisation, w.waiting AS waitlist
                FROM active
                JOIN evently.events AS e ON e.id = active.event_id
                CROSS JOIN LATERAL (
                    SELECT count(*) FILTER (WHERE made) AS bookings,
                           coalesce(sum(quantity) FILTER (WHERE made), 0) AS seats,
                           coalesce(sum(total_amount) FILTER (WHERE made AND status = 'confirmed'), 0) AS revenue,
                           count(*) FILTER (WHERE gone) AS cancellations,
                           coalesce(sum(quantity) FILTER (WHERE gone), 0) AS cancelled_seats,
                           coalesce(sum(quantity) FILTER (WHERE created_at < \(end)
                                                          AND (cancelled_at IS NULL OR cancelled_at >= \(end))), 0) AS confirmed_seats
                    FROM (SELECT quantity, total_amount, status, created_at, cancelled_at,
                                 created_at >= \(start) AND created_at < \(end) AS made,
                                 coalesce(cancelled_at >= \(start) AND cancelled_at < \(end), false) AS gone
                          FROM evently.bookings WHERE event_id = e.id) AS eb
                ) AS b
                CROSS JOIN LATERAL (
                    SELECT count(*) AS waiting FROM evently.waitlist WHERE event_id = e.id AND status = 'waiting'
                ) AS w
            ), report AS (
                INSERT INTO evently.reports (period, period_start, period_end, built_at, event_count, bookings, seats, revenue,
                                             cancellations, cancelled_seats, confirmed_seats, capacity, utilisation, waitlist)
                SELECT \(period.rawValue), \(start), \(end), \(now), count(*), coalesce(sum(bookings), 0), coalesce(sum(seats), 0),
                       coalesce(sum(revenue), 0), coalesce(sum(cancellations), 0), coalesce(sum(cancelled_seats), 0),
                       coalesce(sum(confirmed_seats), 0), coalesce(sum(capacity), 0),
                       coalesce(round(sum(confirmed_seats)::numeric / nullif(sum(capacity), 0), 4), 0), coalesce(sum(waitlist), 0)
                FROM lines
                ON CONFLICT (period, period_start) DO NOTHING
                RETURNING id
            ), stored AS (
                INSERT INTO evently.report_lines (report_id, event_id, event_name, event_starts_at, capacity, bookings, seats,
                                                  revenue, cancellations, cancelled_seats, confirmed_seats, utilisation, waitlist)
                SELECT report.id, lines.event_id, lines.event_name, lines.event_starts_at, lines.capacity, lines.bookings,
                       lines.seats, lines.revenue, lines.cancellations, lines.cancelled_seats, lines.confirmed_seats,
                       lines.utilisation, lines.waitlist
                FROM report CROSS JOIN lines
                RETURNING event_id
            )
            SELECT id, (SELECT count(*) FROM stored) FROM report
            """, logger: logger) { try $0.decode((UUID, Int).self) }
        guard let report = try await find(period: period, start: start, on: connection) else {
            throw StoredValueError(description: "the \(period.rawValue) report starting \(start) was neither inserted nor found")
        }
        if let inserted {
            logger.info("built report", metadata: ["report_id": "\(inserted.0)", "period": "\(period.rawValue)",
                                                   "period_start": "\(start)", "events": "\(inserted.1)"])
        }
        return (report, inserted != nil)
    }

    /// The report with its lines, or `nil` if there is none with that id.
    public func get(id: UUID, on connection: PostgresConnection) async throws -> Report? {
        guard var report = try await connection.firstRow("""
            SELECT \(unescaped: Self.columns) FROM evently.reports WHERE id = \(id)
            """, logger: logger, Self.decode) else { return nil }
        report.lines = try await lines(of: id, on: connection)
        return report
    }

    /// The report of the `period` that contains `start`, with its lines, or `nil`. Reads the unique key.
    public func find(period: ReportPeriod, start: Date, on connection: PostgresConnection) async throws -> Report? {
        guard var report = try await connection.firstRow("""
            SELECT \(unescaped: Self.columns) FROM evently.reports
            WHERE period = \(period.rawValue) AND period_start = \(period.start(containing: start))
            """, logger: logger, Self.decode) else { return nil }
        report.lines = try await lines(of: report.id, on: connection)
        return report
    }

    /// Reports newest period first (hourly before daily when they start together), without
    /// their lines; all periods unless `period` is given. Reads `reports_newest_idx`, or the
    /// unique key with a period.
    public func list(period: ReportPeriod? = nil, limit: Int = 50, offset: Int = 0,
                     on connection: PostgresConnection) async throws -> [Report] {
        try await connection.rows("""
            SELECT \(unescaped: Self.columns) FROM evently.reports
            WHERE \(period?.rawValue)::text IS NULL OR period = \(period?.rawValue)::text
            ORDER BY period_start DESC, period
            LIMIT \(max(0, limit)) OFFSET \(max(0, offset))
            """, logger: logger, Self.decode)
    }

    /// Records where the report's CSV was written (a no-op when it already says so).
    public func recordCSVPath(_ path: String, reportID: UUID, on connection: PostgresConnection) async throws {
        try await connection.query("""
            UPDATE evently.reports SET csv_path = \(path) WHERE id = \(reportID) AND csv_path IS DISTINCT FROM \(path)
            """, logger: logger)
    }

    private func lines(of reportID: UUID, on connection: PostgresConnection) async throws -> [ReportLine] {
        // The primary key (report_id, event_id) finds the lines; the sort is over one report's few rows.
        try await connection.rows("""
            SELECT event_id, event_name, event_starts_at, bookings, seats, revenue::text, cancellations, cancelled_seats,
                   confirmed_seats, capacity, utilisation::text, waitlist
            FROM evently.report_lines WHERE report_id = \(reportID)
            ORDER BY event_starts_at, event_id
            """, logger: logger) { row in
            let (eventID, name, startsAt, bookings, seats, revenue, cancellations, cancelledSeats, confirmedSeats, capacity,
                 utilisation, waitlist) =
                try row.decode((UUID, String, Date, Int, Int, String, Int, Int, Int, Int, String, Int).self)
            return ReportLine(eventID: eventID, eventName: name, eventStartsAt: startsAt, figures: ReportFigures(
                bookings: bookings, seats: seats, revenue: try Decimal(numericText: revenue), cancellations: cancellations,
                cancelledSeats: cancelledSeats, confirmedSeats: confirmedSeats, capacity: capacity,
                utilisation: try Decimal(numericText: utilisation), waitlist: waitlist))
        }
    }

    static let columns = """
        id, period, period_start, period_end, built_at, csv_path, event_count, bookings, seats, revenue::text, \
        cancellations, cancelled_seats, confirmed_seats, capacity, utilisation::text, waitlist
        """

    static func decode(_ row: PostgresRow) throws -> Report {
        let (id, period, start, end, builtAt, csvPath, eventCount, bookings, seats, revenue,
             cancellations, cancelledSeats, confirmedSeats, capacity, utilisation, waitlist) =
            try row.decode((UUID, String, Date, Date, Date, String?, Int, Int, Int, String, Int, Int, Int, Int, String, Int).self)
        return Report(id: id, period: try ReportPeriod(stored: period), periodStart: start, periodEnd: end, builtAt: builtAt,
                      csvPath: csvPath, eventCount: eventCount, totals: ReportFigures(
                          bookings: bookings, seats: seats, revenue: try Decimal(numericText: revenue),
                          cancellations: cancellations, cancelledSeats: cancelledSeats, confirmedSeats: confirmedSeats,
                          capacity: capacity, utilisation: try Decimal(numericText: utilisation), waitlist: waitlist),
                      lines: [])
    }
}
