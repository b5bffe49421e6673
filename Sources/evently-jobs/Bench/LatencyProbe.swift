import Dispatch
import Queue
import Synchronization

/// Records how long after its enqueue began each job started.
struct LatencyProbe: JobWorker {
    struct Payload: JobPayload {
        static let kind = "bench.latency"
        var enqueuedAtNanoseconds: UInt64
    }
    let samples: LatencySamples

    func work(_ payload: Payload, context: JobContext) async throws {
        let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - payload.enqueuedAtNanoseconds) / 1e6
        samples.values.withLock { $0.append(milliseconds) }
    }
}

/// What the probes measured, in milliseconds.
final class LatencySamples: Sendable {
    let values = Mutex<[Double]>([])
}
