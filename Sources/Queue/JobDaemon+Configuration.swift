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

        /// Recorded in `attempted_by` of every job this daemon claims. Default `host:pid`.
        public var workerName = "\(ProcessInfo.processInfo.hostName):\(getpid())"

        public init() {}
    }
}
