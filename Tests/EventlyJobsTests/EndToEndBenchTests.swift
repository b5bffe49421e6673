import ArgumentParser
import EventlyTestSupport
import Foundation
import PostgresNIO
import Testing
@testable import evently_jobs

/// `evently-jobs bench-e2e` books over HTTP at the rate asked, and every booking's email reaches
/// the SMTP server and its SMS the command's receiver before the step is called kept up.
@Suite(.timeLimit(.minutes(3))) struct EndToEndBenchTests {
    /// A jobs.conf in a fresh folder for a bench command on `base`'s server (remove the folder after).
    static func benchConfig(base: PostgresClient.Configuration, extra: String = "") throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let conf = folder.appendingPathComponent("jobs.conf")
        try """
            [database]
            url = "\(BenchCommand.url(for: base))"
            [log]
            level = "warning"
            \(extra)
            """.write(to: conf, atomically: true, encoding: .utf8)
        return conf
    }

    @Test func aStepBooksAtItsRateAndWaitsForEveryDelivery() async throws {
        let smtp = try await SMTPTestServer.start()
        defer { smtp.stop() }
        let base = try await TestDatabase.makeDatabase(prefix: "e2ebase")
        let conf = try Self.benchConfig(base: base, extra: """
            [queue.default]
            concurrency = 4
            [queue.notifications]
            concurrency = 4
            """)
        defer { try? FileManager.default.removeItem(at: conf.deletingLastPathComponent()) }

        var command = try EndToEndBenchCommand.parse([
            "--config", conf.path, "--smtp", "\(smtp.host):\(smtp.port)",
            "--rates", "5", "--seconds", "2", "--clients", "3", "--events", "2",
        ])
        try await command.run()

        var results = base
        results.database = "evently_bench_e2e"
        try await TestDatabase.withClient(configuration: results) { client in
            let rows = try await client.query("""
                SELECT (SELECT count(*)::int FROM evently.bookings),
                       (SELECT count(*)::int FROM evently.notifications WHERE type = 'email' AND status = 'sent'),
                       (SELECT count(*)::int FROM evently.notifications WHERE type = 'sms' AND status = 'sent')
                """, logger: TestDatabase.logger)
            for try await (bookings, emails, texts) in rows.decode((Int, Int, Int).self) {
                #expect(bookings == 10, "5 bookings/s for 2 s")
                #expect(emails == 10 && texts == 10, "every booking mailed and texted before the step ended: \(emails), \(texts)")
            }
        }
        #expect(try smtp.messages().count == 10)
    }
}
