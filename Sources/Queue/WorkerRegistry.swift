import Foundation
import Logging

/// The job kinds this daemon can run, each with its worker. Built once at startup.
public struct WorkerRegistry: Sendable {
    typealias Runner = @Sendable (ClaimedJob, JobContext) async throws -> Void

    struct Entry: Sendable {
        var run: Runner
        var timeout: Duration?
    }

    private(set) var entries: [String: Entry] = [:]

    public init() {}

    /// Registers `worker` for its payload's kind.
    /// - Throws: ``QueueError/duplicateKind(_:)`` if the kind already has a worker.
    public mutating func register<Worker: JobWorker>(_ worker: Worker) throws {
        let kind = Worker.Payload.kind
        guard entries[kind] == nil else { throw QueueError.duplicateKind(kind) }
        entries[kind] = Entry(run: { job, context in
            let payload: Worker.Payload
            do {
                payload = try Self.decoder.decode(Worker.Payload.self, from: Data(job.argsJSON.utf8))
            } catch {
                // Arguments that do not decode never will: retrying cannot help.
                throw JobControl.discard(reason: "arguments do not match \(kind): \(error)")
            }
            try await worker.work(payload, context: context)
        }, timeout: worker.timeout)
    }

    /// The registered kinds, sorted.
    public var kinds: [String] { entries.keys.sorted() }

    func entry(for kind: String) -> Entry? { entries[kind] }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
