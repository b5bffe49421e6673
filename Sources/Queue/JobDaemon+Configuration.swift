import Foundation

extension JobDaemon {
    /// Everything the queue engine of one daemon is tuned by. `jobs.conf`'s `[queue]`,
    /// `[queue.NAME]` and `[kind.NAME]` sections fill it field by field; the defaults below are
    /// the defaults of the shipped daemon (the config file documents the same keys).
    public struct Configuration: Sendable, Equatable {
        /// Queue name → how many of its jobs run at once in this daemon. A queue not listed is
        /// not worked by this daemon (its jobs wait for one that lists it).
        /// Default: `default` with 10 slots. (`[queue.NAME] concurrency`)
        public var queues: [String: Int] = ["default": 10]

        /// Slots a `[queue.NAME]` section gets when it names no concurrency. Default 10.
        /// (`[queue] default_concurrency`)
        public var defaultConcurrency = 10

        /// The most jobs one claim statement takes. Larger batches cost fewer round trips per
        /// job; a producer never claims more than its free slots. Default 100.
        /// (`[queue] claim_batch`)
        public var claimBatch = 100

        /// Claims of one queue that may be in flight at once while it is busy: while one waits
        /// on its round trip and commit, PostgreSQL runs the next (SKIP LOCKED keeps their jobs
        /// apart). A further claim goes only while the last came back full and there are slots
        /// for a whole batch besides those in flight. Default 2. (`[queue] claims_in_flight`)
        public var claimsInFlight = 2

        /// How often each queue looks for due work without being woken by NOTIFY: the fallback
        /// when the LISTEN connection is down, and the precision of delayed and retried jobs.
        /// Jittered ± 20 %. Default 1 s. (`[queue] poll_interval`)
        public var pollInterval: Duration = .seconds(1)

        /// How long a claimed job belongs to this daemon without renewal. Renewed every third
        /// of it while the job runs; once it lapses another daemon's rescue may run the job
        /// again. Default 60 s. (`[queue] lease`)
        public var lease: Duration = .seconds(60)

        /// How often this daemon looks for jobs whose lease lapsed (their daemon died).
        /// Default 15 s. (`[queue] rescue_interval`)
        public var rescueInterval: Duration = .seconds(15)

        /// How long running jobs may still finish after SIGTERM before they are handed back
        /// (`available` again, attempt refunded). Default 25 s. (`[queue] shutdown_timeout`)
        public var shutdownTimeout: Duration = .seconds(25)

        /// The longest one attempt of a job may run when neither `kindTimeouts` nor its worker
        /// names a limit; it is then cancelled and counted as failed. Default 300 s.
        /// (`[queue] job_timeout`)
        public var defaultTimeout: Duration = .seconds(300)

        /// Job kind → the longest one attempt of it may run, overriding its worker's own
        /// timeout and `defaultTimeout`. Default none. (`[kind.NAME] timeout`)
        public var kindTimeouts: [String: Duration] = [:]

        /// How long completed, cancelled and discarded jobs are kept before `queue.prune`
        /// deletes them. Default 7 days. (`[queue] retention`)
        public var retention: Duration = .seconds(7 * 86_400)

        /// The wait before a failed job's next attempt: exponential from 1 s, capped at 1 h,
        /// ± 10 % jitter. A worker's `RetryAfterHinting` error overrides it.
        public var retryPolicy = RetryPolicy()

        /// Recorded in `attempted_by` of every job this daemon claims, and names it among the
        /// live daemons. Default `host:pid`.
        public var workerName = "\(ProcessInfo.processInfo.hostName):\(getpid())"

        /// The version of the program running the daemon, shown among the live daemons.
        public var version = "unknown"

        /// How often the gauges read from the database (queue depth, oldest available age,
        /// live daemons) are refreshed. Default 10 s. (Not in jobs.conf.)
        public var metricsInterval: Duration = .seconds(10)

        public init() {}

        /// The smallest lease: below it, renewals (a third of the lease) and the safety margin
        /// (a sixth) leave no room for a slow round trip.
        public static let minimumLease: Duration = .seconds(2)
        public static let minimumPollInterval: Duration = .milliseconds(10)
        public static let minimumRescueInterval: Duration = .milliseconds(100)
        public static let minimumTimeout: Duration = .milliseconds(10)

        /// What in these settings would make the daemon spin against the database or lose the
        /// jobs it runs, as (jobs.conf key, reason) pairs; empty when they are sound.
        public var problems: [(key: String, reason: String)] {
            var problems: [(key: String, reason: String)] = []
            if lease < Self.minimumLease {
                problems.append(("queue.lease", "must be at least \(Self.minimumLease) (it is renewed every third of it)"))
            }
            if pollInterval < Self.minimumPollInterval {
                problems.append(("queue.poll_interval", "must be at least \(Self.minimumPollInterval)"))
            }
            if rescueInterval < Self.minimumRescueInterval {
                problems.append(("queue.rescue_interval", "must be at least \(Self.minimumRescueInterval)"))
            }
            if defaultTimeout < Self.minimumTimeout {
                problems.append(("queue.job_timeout", "must be at least \(Self.minimumTimeout)"))
            }
            for (kind, timeout) in kindTimeouts.sorted(by: { $0.key < $1.key }) where timeout < Self.minimumTimeout {
                problems.append(("kind.\(kind).timeout", "must be at least \(Self.minimumTimeout)"))
            }
            if shutdownTimeout < .zero { problems.append(("queue.shutdown_timeout", "must not be negative")) }
            if claimBatch < 1 { problems.append(("queue.claim_batch", "must be at least 1")) }
            if claimsInFlight < 1 { problems.append(("queue.claims_in_flight", "must be at least 1")) }
            for (queue, slots) in queues.sorted(by: { $0.key < $1.key }) where slots < 1 {
                problems.append(("queue.\(queue).concurrency", "must be at least 1"))
            }
            return problems
        }
    }
}
