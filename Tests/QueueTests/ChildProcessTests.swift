import Foundation
import Queue
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(5))) struct ChildProcessTests {
    @Test(.timeLimit(.minutes(1)))
    func runReportsStatusAndOutput() async throws {
        let result = try await ChildProcess.run(["sh", "-c", "echo hello; echo oops >&2; exit 3"])
        #expect(result.status == 3)
        #expect(result.output == "hello\noops\n")
    }

    /// A descriptor we hold open (no close-on-exec) must not reach the child: PostgreSQL counts
    /// what it inherits and refused to start beside a test holding 2,000 sockets.
    @Test(.timeLimit(.minutes(1)))
    func theChildInheritsOnlyItsStandardStreams() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let listing = try await ChildProcess.run(["sh", "-c", "ls /proc/$$/fd"])
        let open = Set(listing.output.split(separator: "\n").compactMap { Int32($0) })
        #expect(!open.contains(ends[0]) && !open.contains(ends[1]), "inherited: \(open.sorted()), ours: \(ends)")
        #expect(open.isSuperset(of: [0, 1, 2]))
    }

    @Test(.timeLimit(.minutes(1)))
    func aMissingProgramIsNamed() throws {
        #expect(throws: ChildProcessError.self) { try ChildProcess(["evently-no-such-program"]) }
    }

    @Test(.timeLimit(.minutes(1)))
    func terminateEndsAChildThatIgnoresNothing() async throws {
        let child = try ChildProcess(["sleep", "30"])
        #expect(child.isRunning)
        let status = try await onOwnThread { child.terminate(within: .seconds(5)) }
        #expect(status == 128 + SIGTERM)
        #expect(!child.isRunning)
    }
}
