import BookingCore
import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing
@testable import Workers

@Suite(.timeLimit(.minutes(5))) struct ReportWorkerTests {
    static let logger = TestDatabase.logger

    /// 10 March 2024, UTC: long over, so the worker builds it at once.
    static let dayStart = ISO8601DateFormatter().date(from: "2024-03-10T00:00:00Z")!

    static func withDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-reports-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        // A folder that does not exist yet: the worker creates it.
        return try await body(directory.appendingPathComponent("nested"))
    }

    /// Two events with bookings inside the day, one cancelled in it, and bookings on either side.
    static func seed(_ client: PostgresClient) async throws {
        let users = UserStore(logger: logger), events = EventStore(logger: logger), bookings = BookingStore(logger: logger)
        let created = dayStart.addingTimeInterval(-5 * 86_400)
        try await client.withConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                let admin = try await users.upsert(UserClaims(id: UUID(), email: "admin@example.org", role: .admin), now: created, on: connection)
                let user = try await users.upsert(UserClaims(id: UUID(), email: "user@example.org", role: .user), now: created, on: connection)
                let rock = try await events.create(NewEvent(name: "Rock, \"live\"", venue: "Hall", startsAt: dayStart.addingTimeInterval(30 * 86_400),
                                                            capacity: 50, basePrice: 12.5), by: admin.id, now: created, on: connection)
                let jazz = try await events.create(NewEvent(name: "Jazz", venue: "Club", startsAt: dayStart.addingTimeInterval(40 * 86_400),
                                                            capacity: 20, basePrice: 30), by: admin.id, now: created, on: connection)
                func book(_ event: Event, _ quantity: Int, hours: Double) async throws -> Booking {
                    try await bookings.book(userID: user.id, eventID: event.id, quantity: quantity,
                                            now: dayStart.addingTimeInterval(hours * 3_600), pricing: .flat, on: connection).booking
                }
                _ = try await book(rock, 2, hours: -1)
                _ = try await book(rock, 3, hours: 0)
                let cancelled = try await book(rock, 1, hours: 9.5)
                _ = try await book(jazz, 4, hours: 12)
                _ = try await book(jazz, 1, hours: 23.99)
                _ = try await book(jazz, 5, hours: 24)
                _ = try await bookings.cancel(bookingID: cancelled.id, by: user.id, now: dayStart.addingTimeInterval(10 * 3_600), on: connection)
            }
        }
    }

    static func context(_ id: Int64 = 1) -> JobContext {
        JobContext(jobID: id, kind: ReportBuildWorker.Payload.kind, queue: "default", attempt: 1, maxAttempts: 3, logger: logger)
    }

    static func scalar<T: PostgresDecodable & Sendable>(_ type: T.Type, _ query: PostgresQuery, on client: PostgresClient) async throws -> T {
        for try await value in try await client.query(query, logger: logger).decode(T.self) { return value }
        throw StrictCSV.Malformed(description: "no row: \(query.sql)")
    }

    /// The files in `directory`, hidden ones (temporaries) included.
    static func files(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    /// The CSV's TOTAL row checked against the bookings table, counted by SQL of its own.
    static func expectTotalsMatchBookings(_ csvText: String, on client: PostgresClient) async throws {
        let rows = try StrictCSV.parse(csvText)
        #expect(rows.first == Report.csvHeader)
        let total = try #require(rows.last)
        #expect(total[0] == "TOTAL")
        let column = { (name: String) in total[Report.csvHeader.firstIndex(of: name)!] }
        let end = dayStart.addingTimeInterval(86_400)
        let (count, seats, revenue) = try await client.withConnection { connection in
            try await connection.query("""
                SELECT count(*), sum(quantity), (sum(total_amount) FILTER (WHERE status = 'confirmed'))::text
                FROM evently.bookings WHERE created_at >= \(dayStart) AND created_at < \(end)
                """, logger: logger).collect()[0].decode((Int, Int, String).self)
        }
        #expect(column("bookings") == "\(count)")
        #expect(column("seats") == "\(seats)")
        #expect(column("revenue") == revenue)
        // The lines add up to the totals too.
        let lines = rows.dropFirst().dropLast()
        #expect(lines.map { Int($0[3])! }.reduce(0, +) == count)
        #expect(lines.map { Decimal(string: $0[5])! }.reduce(0, +) == Decimal(string: revenue))
    }

    @Test func buildingOnePeriodTwiceThroughTheQueueMakesOneReportAndOneFile() async throws {
        try await TestDatabase.withClient(migrations: DeliveryFixture.migrations) { client in
            try await Self.seed(client)
            try await Self.withDirectory { directory in
                var registry = WorkerRegistry()
                try registry.register(ReportBuildWorker(client: client, settings: ReportSettings(directory: directory)))
                var configuration = JobDaemon.Configuration()
                configuration.queues = ["default": 4]
                configuration.pollInterval = .milliseconds(50)
                let daemon = JobDaemon(client: client, registry: registry, configuration: configuration, logger: Self.logger)
                let jobs = JobClient(client: client, logger: Self.logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await daemon.run() }
                    defer { group.cancelAll() }
                    // Two instants of the same day, enqueued as two separate jobs.
                    let ids = try await jobs.enqueue([
                        try NewJob(ReportBuildWorker.Payload(period: .daily, periodStart: Self.dayStart)),
                        try NewJob(ReportBuildWorker.Payload(period: .daily, periodStart: Self.dayStart.addingTimeInterval(7_200))),
                        NewJob(kind: "report.build", argsJSON: #"{"period": "daily", "period_start": "2024-03-10T18:00:00Z"}"#),
                    ])
                    let deadline = ContinuousClock.now + .seconds(30)
                    while try await Self.scalar(Int.self, "SELECT count(*)::int FROM evently_jobs.jobs WHERE id = ANY(\(ids)) AND state = 'completed'",
                                                on: client) < ids.count {
                        guard ContinuousClock.now < deadline else {
                            let states = try await Self.scalar(String.self, "SELECT string_agg(state || ' ' || errors::text, '; ') FROM evently_jobs.jobs",
                                                               on: client)
                            Issue.record("report jobs did not complete: \(states)")
                            return
                        }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                #expect(try await Self.scalar(Int.self, "SELECT count(*)::int FROM evently.reports", on: client) == 1)
                let name = "report-daily-20240310T000000Z.csv"
                #expect(try Self.files(in: directory) == [name], "one file, no temporaries left")
                let file = directory.appendingPathComponent(name)
                #expect(try await Self.scalar(String.self, "SELECT csv_path FROM evently.reports", on: client) == file.path)
                let text = try String(contentsOf: file, encoding: .utf8)
                try await Self.expectTotalsMatchBookings(text, on: client)
                let rows = try StrictCSV.parse(text)
                #expect(rows.count == 4, "header, Rock, Jazz, TOTAL")
                #expect(rows[1][1] == "Rock, \"live\"")
                #expect(rows.last == ["TOTAL", "", "", "4", "9", "187.50", "1", "1", "10", "70", "0.1429", "0"])
            }
        }
    }

    @Test func concurrentRunsBuildOnceAndLeaveOneUnchangedFile() async throws {
        try await TestDatabase.withClient(migrations: DeliveryFixture.migrations) { client in
            try await Self.seed(client)
            try await Self.withDirectory { directory in
                let worker = ReportBuildWorker(client: client, settings: ReportSettings(directory: directory, period: .daily))
                let payload = ReportBuildWorker.Payload(periodStart: Self.dayStart.addingTimeInterval(3_600))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<8 {
                        group.addTask { try await worker.work(payload, context: Self.context(Int64(index))) }
                    }
                    try await group.waitForAll()
                }
                #expect(try await Self.scalar(Int.self, "SELECT count(*)::int FROM evently.reports", on: client) == 1)
                let name = "report-daily-20240310T000000Z.csv"
                #expect(try Self.files(in: directory) == [name])
                let file = directory.appendingPathComponent(name)
                let before = try FileManager.default.attributesOfItem(atPath: file.path)[.systemFileNumber] as? Int
                let bytes = try Data(contentsOf: file)

                try await worker.work(payload, context: Self.context(99))
                let after = try FileManager.default.attributesOfItem(atPath: file.path)[.systemFileNumber] as? Int
                #expect(before != nil && before == after, "a file that already holds the report is not replaced")
                #expect(try Data(contentsOf: file) == bytes)

                let stored = try #require(try await client.withConnection { try await ReportStore(logger: Self.logger).find(period: .daily, start: Self.dayStart, on: $0) })
                #expect(Data(stored.csv.utf8) == bytes, "the file is the stored report")
                try await Self.expectTotalsMatchBookings(String(decoding: bytes, as: UTF8.self), on: client)

                // A deleted (or damaged) file is written again from the stored report.
                try Data("garbage".utf8).write(to: file)
                try await worker.work(payload, context: Self.context(100))
                #expect(try Data(contentsOf: file) == bytes)
                #expect(try await Self.scalar(Int.self, "SELECT count(*)::int FROM evently.reports", on: client) == 1)
            }
        }
    }

    @Test func defaultsToTheLastCompletePeriodAndWaitsForUnfinishedOnes() async throws {
        try await TestDatabase.withClient(migrations: DeliveryFixture.migrations) { client in
            try await Self.withDirectory { directory in
                let worker = ReportBuildWorker(client: client, settings: ReportSettings(directory: directory, period: .hourly))
                let before = Date()
                try await worker.work(try JSONDecoder().decode(ReportBuildWorker.Payload.self, from: Data("{}".utf8)), context: Self.context())
                let after = Date()
                let start = try await Self.scalar(Date.self, "SELECT period_start FROM evently.reports WHERE period = 'hourly'", on: client)
                #expect([ReportPeriod.hourly.lastComplete(before: before), ReportPeriod.hourly.lastComplete(before: after)].contains(start))
                #expect(try Self.files(in: directory) == [Report.csvFileName(period: .hourly, start: start)])

                // The period running now is not built yet: the job comes back when it is over.
                let now = Date()
                await #expect(throws: JobControl.self) {
                    try await worker.work(.init(period: .daily, periodStart: now), context: Self.context())
                }
                do {
                    try await worker.work(.init(period: .daily, periodStart: now), context: Self.context())
                } catch JobControl.snooze(let delay) {
                    #expect(delay > .zero && delay <= .seconds(86_402))
                }
                do {
                    try await worker.work(.init(period: .hourly, periodStart: now.addingTimeInterval(7_200)), context: Self.context())
                    Issue.record("a future period must not be built")
                } catch JobControl.discard(let reason) {
                    #expect(reason.contains("future"))
                }
                #expect(try await Self.scalar(Int.self, "SELECT count(*)::int FROM evently.reports", on: client) == 1)
            }
        }
    }

    @Test func payloadFieldsAreSnakeCaseAndOptional() throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let full = try decoder.decode(ReportBuildWorker.Payload.self,
                                      from: Data(#"{"period": "hourly", "period_start": "2024-03-10T05:00:00Z"}"#.utf8))
        #expect(full.period == .hourly)
        #expect(full.periodStart == Self.dayStart.addingTimeInterval(5 * 3_600))
        let empty = try decoder.decode(ReportBuildWorker.Payload.self, from: Data("{}".utf8))
        #expect(empty.period == nil && empty.periodStart == nil)
        #expect(throws: DecodingError.self) {
            try decoder.decode(ReportBuildWorker.Payload.self, from: Data(#"{"period": "weekly"}"#.utf8))
        }
        let job = try NewJob(ReportBuildWorker.Payload(period: .daily, periodStart: Self.dayStart))
        #expect(job.kind == "report.build")
        #expect(job.argsJSON == #"{"period":"daily","period_start":"2024-03-10T00:00:00Z"}"#)
    }
}
