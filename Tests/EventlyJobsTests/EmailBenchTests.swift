import ArgumentParser
import EventlyTestSupport
import Foundation
import PostgresNIO
import Testing
@testable import evently_jobs

/// `evently-jobs bench-email` sends its messages bare, then through the daemon (prepared
/// statements, and with `--also-unprepared` once more without), and fails when any is not sent.
@Suite(.timeLimit(.minutes(3))) struct EmailBenchTests {
    @Test func everyMeasurementDeliversEveryMessageToTheServer() async throws {
        let smtp = try await SMTPTestServer.start()
        defer { smtp.stop() }
        let base = try await TestDatabase.makeDatabase(prefix: "emailbenchbase")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("email-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let conf = folder.appendingPathComponent("jobs.conf")
        try """
            [database]
            url = "\(BenchCommand.url(for: base))"
            [log]
            level = "warning"
            """.write(to: conf, atomically: true, encoding: .utf8)

        var command = try EmailBenchCommand.parse([
            "--config", conf.path, "--smtp", "\(smtp.host):\(smtp.port)",
            "--messages", "12", "--concurrency", "3", "--rounds", "1", "--also-unprepared",
        ])
        try await command.run()
        #expect(try smtp.messages().count == 36, "12 bare, 12 by the daemon prepared, 12 unprepared")
    }
}
