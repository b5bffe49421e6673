import Metrics
import Synchronization

/// The queue's metrics through swift-metrics; handles are made once per label set. Label
/// values are bounded: kinds are those this daemon has workers for (it claims no others), and
/// queues it does not work are folded into ``otherQueues``.
final class QueueMetrics: Sendable {
    static let otherQueues = "other"

    private let finished = Mutex<[String: (Counter, Timer)]>([:])
    private let claimTimer = Timer(label: "evently_jobs_claim_duration_seconds")
    private let claimedCounter = Counter(label: "evently_jobs_claimed_total")
    private let depth = Mutex<[String: Gauge]>([:])

    init() {}

    func recordClaim(duration: Duration, count: Int) {
        claimTimer.recordNanoseconds(Int64(duration.timeInterval * 1e9))
        if count > 0 { claimedCounter.increment(by: count) }
    }

    func recordFinished(kind: String, outcome: JobState, duration: Duration) {
        let key = "\(kind)\u{0}\(outcome.rawValue)"
        let (counter, timer) = finished.withLock { handles in
            if let existing = handles[key] { return existing }
            let made = (Counter(label: "evently_jobs_finished_total", dimensions: [("kind", kind), ("outcome", outcome.rawValue)]),
                        Timer(label: "evently_jobs_duration_seconds", dimensions: [("kind", kind)]))
            handles[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(Int64(duration.timeInterval * 1e9))
    }

    func recordDepth(queue: String, state: JobState, count: Int) {
        let key = "\(queue)\u{0}\(state.rawValue)"
        let gauge = depth.withLock { gauges in
            if let existing = gauges[key] { return existing }
            let made = Gauge(label: "evently_jobs_depth", dimensions: [("queue", queue), ("state", state.rawValue)])
            gauges[key] = made
            return made
        }
        gauge.record(count)
    }
}
