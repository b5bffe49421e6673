import ArgumentParser
import Testing
@testable import evently_jobs

/// `evently-jobs bench`'s history options: they only mean something with a history to fill.
@Suite struct BenchOptionsTests {
    @Test func historyOptionsNeedAHistory() throws {
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--history-only"]) }
        #expect(throws: (any Error).self) { try BenchCommand.parse(["--keep-history"]) }
        let command = try BenchCommand.parse(["--history", "1000", "--history-only", "--keep-history"])
        #expect(command.history == 1_000 && command.historyOnly && command.keepHistory)
        #expect(try BenchCommand.parse([]).historyOnly == false)
    }
}
