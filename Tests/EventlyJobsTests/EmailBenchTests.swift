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
        let conf = try EndToEndBenchTests.benchConfig(base: base)
        defer { try? FileManager.default.removeItem(at: conf.deletingLastPathComponent()) }

        var command = try EmailBenchCommand.parse([
            "--config", conf.path, "--smtp", "\(smtp.host):\(smtp.port)",
            "--messages", "12", "--concurrency", "3", "--rounds", "1", "--also-unprepared",
        ])
        try await command.run()
        #expect(try smtp.messages().count == 36, "12 bare, 12 by the daemon prepared, 12 unprepared")
    }
}
