import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `report.build`: builds the report of one period (unless it exists) and writes its CSV to
/// `<directory>/report-<period>-<start>.csv`.
///
/// Idempotent however often and by however many daemons it runs: the report row is inserted at
/// most once (``ReportStore/build(period:start:now:on:)``), and the file is rendered from the
/// stored report, so every run writes the same bytes; a file that already holds them is left
/// alone, and a missing or different one is replaced atomically (temporary file, then rename).
public struct ReportBuildWorker: JobWorker {
    /// Both fields are optional: without them the settings' period, and the last period that is
    /// over (yesterday, or the previous hour, in UTC).
    public struct Payload: JobPayload {
        public static let kind = "report.build"
        public var period: ReportPeriod?
        /// Any instant of the period to report on (ISO 8601, e.g. `2025-09-14T00:00:00Z`).
        public var periodStart: Date?

        public init(period: ReportPeriod? = nil, periodStart: Date? = nil) {
            self.period = period
            self.periodStart = periodStart
        }

        enum CodingKeys: String, CodingKey {
            case period
            case periodStart = "period_start"
        }
    }

    let client: PostgresClient
    let settings: ReportSettings

    public init(client: PostgresClient, settings: ReportSettings) {
        self.client = client
        self.settings = settings
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let now = Date()
        let period = payload.period ?? settings.period
        let start = payload.periodStart.map(period.start(containing:)) ?? period.lastComplete(before: now)
        let end = period.end(startingAt: start)
        if end > now {
            // A report is never rebuilt, so one of an unfinished period would stay incomplete.
            guard start <= now else {
                throw JobControl.discard(reason: "the \(period.rawValue) period starting \(Self.iso(start)) is in the future")
            }
            throw JobControl.snooze(.seconds(Int64(end.timeIntervalSince(now).rounded(.up)) + 1))
        }

        let store = ReportStore(logger: logger)
        let report = try await client.withOpenConnection { connection in
            try await store.build(period: period, start: start, now: now, on: connection).report
        }
        let file = settings.directory.appendingPathComponent(report.csvFileName)
        let wrote = try Self.write(Data(report.csv.utf8), to: file)
        if report.csvPath != file.path {
            try await client.withOpenConnection { connection in
                try await store.recordCSVPath(file.path, reportID: report.id, on: connection)
            }
        }
        logger.info("\(wrote ? "wrote" : "kept") \(file.path)",
                    metadata: ["report_id": "\(report.id)", "events": "\(report.eventCount)"])
    }

    /// Writes `data` to `file` unless it already holds exactly that: into a uniquely named
    /// temporary file beside it, flushed to disk, then renamed over `file`, so a reader sees the
    /// old file or the whole new one and concurrent writers never mix their bytes.
    /// - Returns: whether the file was written.
    static func write(_ data: Data, to file: URL) throws -> Bool {
        let directory = file.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        if let existing = try? Data(contentsOf: file), existing == data { return false }
        let temporary = directory.appendingPathComponent(".\(file.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw ReportFileError(path: temporary.path, operation: "create", code: errno)
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: data)
            try handle.synchronize()
            guard rename(temporary.path, file.path) == 0 else {
                throw ReportFileError(path: file.path, operation: "rename into place", code: errno)
            }
            return true
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    static func iso(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}
