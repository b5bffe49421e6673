import Metrics
import Synchronization

/// The queue's metrics through swift-metrics; handles are made once per label set. Label
/// values are bounded: kinds are those this daemon has workers for (it claims no others), and
/// queues it does not work are folded into ``otherQueues``. The handles come from `factory`
/// (the daemon's own registry; the global `MetricsSystem` unless given).
final class QueueMetrics: Sendable {
    static let otherQueues = "other"

    private let factory: any MetricsFactory
    private let finished = Mutex<[String: (Counter, Timer)]>([:])
    private let claimTimer: Timer
    private let claimedCounter: Counter
    private let depth = Mutex<[String: Gauge]>([:])
    private let oldestAvailable = Mutex<[String: Gauge]>([:])
    private let rescuedCounter: Counter
    private let completerBacklog: Gauge
    private let liveDaemons: Gauge
    /// `evently_db_connections` by state label, see ``recordDatabaseConnections(_:)``.
    private let databaseConnections: [String: Gauge]

    /// The `state` label values of `evently_db_connections`, from `pg_stat_activity.state`
    /// (`idle in transaction (aborted)` counts as `idle_in_transaction`).
    static let connectionStates = ["active", "idle", "idle_in_transaction"]

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
        claimTimer = Timer(label: "evently_jobs_claim_duration_seconds", factory: factory)
        claimedCounter = Counter(label: "evently_jobs_claimed_total", factory: factory)
        rescuedCounter = Counter(label: "evently_jobs_rescued_total", factory: factory)
        completerBacklog = Gauge(label: "evently_jobs_completer_backlog", factory: factory)
        liveDaemons = Gauge(label: "evently_jobs_live_daemons", factory: factory)
        databaseConnections = Dictionary(uniqueKeysWithValues: Self.connectionStates.map { state in
            (state, Gauge(label: "evently_db_connections", dimensions: [("state", state)], factory: factory))
        })
    }

    func recordClaim(duration: Duration, count: Int) {
        claimTimer.recordNanoseconds(Int64(duration.timeInterval * 1e9))
        if count > 0 { claimedCounter.increment(by: count) }
    }

    func recordFinished(kind: String, outcome: JobState, duration: Duration) {
        let key = "\(kind)\u{0}\(outcome.rawValue)"
        let (counter, timer) = finished.withLock { handles in
            if let existing = handles[key] { return existing }
            let made = (Counter(label: "evently_jobs_finished_total", dimensions: [("kind", kind), ("outcome", outcome.rawValue)],
                                factory: factory),
                        Timer(label: "evently_jobs_duration_seconds", dimensions: [("kind", kind)], factory: factory))
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
            let made = Gauge(label: "evently_jobs_depth", dimensions: [("queue", queue), ("state", state.rawValue)], factory: factory)
            gauges[key] = made
            return made
        }
        gauge.record(count)
    }

    /// Age of the oldest job of `queue` that is due and waiting; 0 when none is.
    func recordOldestAvailableAge(queue: String, seconds: Double) {
        let gauge = oldestAvailable.withLock { gauges in
            if let existing = gauges[queue] { return existing }
            let made = Gauge(label: "evently_jobs_oldest_available_age_seconds", dimensions: [("queue", queue)], factory: factory)
            gauges[queue] = made
            return made
        }
        gauge.record(seconds)
    }

    func recordRescued(count: Int) {
        if count > 0 { rescuedCounter.increment(by: count) }
    }

    /// Outcomes the completer holds that are not written yet.
    func recordCompleterBacklog(_ count: Int) {
        completerBacklog.record(count)
    }

    func recordLiveDaemons(_ count: Int) {
        liveDaemons.record(count)
    }

    /// Connections to this database, as the server sees them (`pg_stat_activity`), by state:
    /// those of this database user whose `application_name` is the pool's own. PostgresNIO does
    /// not expose its pool's counts, so this is the pool seen from the server; with no
    /// `application_name` given to the pool (the default) it also counts the other clients of
    /// the same user and database that set none (other daemons, the LISTEN connection). A state
    /// no connection is in reads 0.
    func recordDatabaseConnections(_ counts: [String: Int]) {
        for (state, gauge) in databaseConnections { gauge.record(counts[state] ?? 0) }
    }
}
