import Foundation
import Logging
import Metrics
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The queue engine of one daemon as a ServiceLifecycle `Service`: a producer per queue, the
/// LISTEN connection, the batched completer, lease renewal and the rescuer. (Retention is the
/// `queue.prune` job, run by a schedule.)
///
/// On graceful shutdown it stops claiming, gives running jobs `shutdownTimeout` to finish,
/// hands the rest back (`available`, attempt refunded), writes every outcome, and returns.
/// Several daemons on one database are safe: claims use `SKIP LOCKED`, and the maintenance
/// statements lock the rows they change, so they may run on every daemon at once.
public final class JobDaemon: Service, Sendable {
    public let configuration: Configuration
    private let client: PostgresClient
    private let completer: JobCompleter
    private let producers: [String: QueueProducer]
    private let metrics: QueueMetrics
    private let logger: Logger
    private let kinds: [String]
    private let listenConnection: PostgresConnection.Configuration?
    private let pollOnly: Bool

    /// - Parameter listenConnection: where to open the LISTEN connection of its own (see
    ///   ``PostgresConnection/Configuration/init(sameServerAs:tls:)``); without it, LISTEN holds
    ///   a pool connection.
    /// - Parameter pollOnly: no LISTEN at all (the pool goes through a transaction pooler and
    ///   there is no direct connection): producers wake at `pollInterval` only.
    /// - Parameter metricsFactory: where its metrics go (the daemon's Prometheus registry).
    public init(client: PostgresClient, registry: WorkerRegistry, configuration: Configuration, logger: Logger,
                listenConnection: PostgresConnection.Configuration? = nil, pollOnly: Bool = false,
                metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        let metrics = QueueMetrics(factory: metricsFactory)
        self.metrics = metrics
        self.configuration = configuration
        self.listenConnection = listenConnection
        self.pollOnly = pollOnly
        self.client = client
        self.logger = logger
        self.kinds = registry.kinds
        let completer = JobCompleter(client: client, logger: logger, metrics: metrics)
        self.completer = completer
        var producers: [String: QueueProducer] = [:]
        for (queue, concurrency) in configuration.queues {
            producers[queue] = QueueProducer(queue: queue, concurrency: concurrency, configuration: configuration,
                                             client: client, registry: registry, completer: completer,
                                             metrics: metrics, logger: logger)
        }
        self.producers = producers
    }

    public func run() async throws {
        logger.info("job daemon started", metadata: [
            "queues": "\(configuration.queues.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            "worker": "\(configuration.workerName)",
        ])
        // Not a child of ours: when this task is cancelled rather than shut down gracefully, the
        // outcomes of the jobs it interrupts must still be written; finish() below ends it.
        let completer = self.completer
        async let completion: Void = Task { await completer.run() }.value
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { background in
                if !pollOnly { background.addTask { await self.notifier.run() } }
                for producer in producers.values {
                    background.addTask { await self.pollLoop(producer) }
                }
                background.addTask { await self.every(self.renewalPeriod) { try await self.renewLeases() } }
                background.addTask { await self.every(self.configuration.rescueInterval) { try await self.rescue() } }
                background.addTask { await self.every(self.configuration.rescueInterval) { try await self.heartbeat() } }
                background.addTask { await self.every(self.configuration.metricsInterval) { try await self.recordDepth() } }
                background.addTask { await self.every(.seconds(3600)) { try await self.prepareFinishedPartitions() } }

                await withDiscardingTaskGroup { work in
                    for producer in producers.values {
                        work.addTask { await producer.run() }
                    }
                    if producers.isEmpty {
                        // Nothing to claim; returning early would stop the whole service group.
                        work.addTask { try? await gracefulShutdown() }
                    }
                }
                // Leases are renewed until the last job is done; only then stop the rest.
                background.cancelAll()
            }
        } onGracefulShutdown: {
            self.logger.info("job daemon stopping: no new claims")
            for producer in self.producers.values { producer.stop() }
        }
        completer.finish()
        await completion
        do {
            // A task of its own: a daemon stopped by cancelling its task still leaves the live
            // daemons at once, rather than showing as live until its entry expires. When the
            // completer has just given up on the database, one more long wait would only delay
            // the exit (DatabaseOutageTests): the entry expires by itself.
            let wait: Duration = completer.unwrittenWhenStopped > 0 ? .seconds(1) : .seconds(5)
            try await Task { [client, configuration, logger] in
                try await withDeadline(wait) {
                    try await client.withOpenConnection {
                        try await JobQueries.removeDaemon(name: configuration.workerName, on: $0, logger: logger)
                    }
                }
            }.value
        } catch {
            logger.warning("could not remove this daemon from the live daemons: \(readableDescription(of: error))")
        }
        let unwritten = completer.unwrittenWhenStopped
        if unwritten > 0 {
            logger.error("job daemon stopped with \(unwritten) job outcome(s) unwritten: their leases lapse and they run again")
        } else {
            logger.info("job daemon stopped")
        }
    }

    private var notifier: ChannelListener {
        ChannelListener(channel: JobQueries.notifyChannel, client: client, listenConnection: listenConnection, logger: logger,
                    onNotification: { [producers] queue in producers[queue]?.doorbell.ring() },
                    onListening: { [producers] in producers.values.forEach { $0.doorbell.ring() } })
    }

    /// Rings the producer at the poll interval ± 20 %, in case a notification was missed
    /// or a delayed job became due.
    private func pollLoop(_ producer: QueueProducer) async {
        while !Task.isCancelled {
            let jitter = Double.random(in: 0.8...1.2)
            do { try await Task.sleep(for: configuration.pollInterval * jitter) } catch { return }
            producer.doorbell.ring()
        }
    }

    /// Leases are renewed three times per lease, so one lost round trip never costs a job.
    var renewalPeriod: Duration { configuration.lease / 3 }

    /// Runs `body` every `interval`, each run bounded by the interval itself: a database that
    /// stopped answering must not stall the loop (the next run tries again).
    private func every(_ interval: Duration, _ body: @escaping @Sendable () async throws -> Void) async {
        while !Task.isCancelled {
            do { try await withDeadline(interval, body) } catch {
                if Task.isCancelled { return }
                logger.warning("queue maintenance failed: \(readableDescription(of: error))")
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// Renews the leases of every attempt this daemon holds (running, or finished with its
    /// outcome not yet written), fenced by attempt. An attempt the database no longer matches
    /// lost its job and is stopped at once; one that cannot be renewed in time is stopped by its
    /// producer's own clock before the lease could lapse.
    func renewLeases() async throws {
        // Producers first, then the completer: a job moving from one to the other in between is
        // still seen in the second.
        var held: [Int64: Int] = [:]
        for producer in producers.values { held.merge(producer.runningJobs) { $1 } }
        held.merge(completer.unwrittenAttempts) { $1 }
        guard !held.isEmpty else { return }
        let sentAt = ContinuousClock.now
        let renewed = try await client.withOpenConnection { connection in
            try await JobQueries.renewLeases(held, lease: configuration.lease, on: connection, logger: logger)
        }
        for producer in producers.values { producer.leasesRenewed(renewed, requested: held, sentAt: sentAt) }
    }

    /// Records this daemon as live (who it is, its queues and kinds) until three heartbeats from now.
    func heartbeat() async throws {
        try await client.withOpenConnection { connection in
            try await JobQueries.heartbeat(
                name: configuration.workerName, host: ProcessInfo.processInfo.hostName, pid: Int(getpid()),
                version: configuration.version, queues: configuration.queues, kinds: kinds,
                ttl: configuration.rescueInterval * 3 + .seconds(5), on: connection, logger: logger)
        }
    }

    /// Makes the partitions finished jobs go to on the coming days (q0005), so that they land
    /// in a day of their own rather than in `jobs_finished_default`. Any daemon may; the first wins.
    func prepareFinishedPartitions() async throws {
        let made = try await client.withOpenConnection { connection in
            try await JobQueries.prepareFinishedPartitions(on: connection, logger: logger)
        }
        if made > 0 { logger.info("made \(made) partition(s) for the jobs finishing on the coming days") }
    }

    /// Takes back jobs whose daemon died; wakes the queues that got work back.
    func rescue() async throws {
        let queues = try await client.withOpenConnection { connection in
            let queues = try await JobQueries.rescueExpired(limit: 1_000, on: connection, logger: logger)
            try await JobQueries.notify(queues: Set(queues), on: connection, logger: logger)
            return queues
        }
        metrics.recordRescued(count: queues.count)
        if !queues.isEmpty { logger.notice("rescued \(queues.count) job(s) whose lease had expired") }
    }

    /// The depth and oldest-available-age gauges of this daemon's queues, the live daemons, and
    /// the database connections of this pool as the server sees them (``QueueMetrics/recordDatabaseConnections(_:)``).
    /// Jobs in any other queue (anyone can enqueue to any name) are summed under the label
    /// `other` (its age is the oldest of them), so that label values stay bounded.
    func recordDepth() async throws {
        let jobs = JobClient(client: client, logger: logger)
        let status = try await jobs.status()
        var depths: [String: [JobState: Int]] = [:]
        var ages: [String: Double] = [:]
        for queue in configuration.queues.keys { depths[queue] = [:] }
        for queue in status {
            let label = configuration.queues[queue.queue] == nil ? QueueMetrics.otherQueues : queue.queue
            for state in JobState.unfinished {
                depths[label, default: [:]][state, default: 0] += queue.counts[state] ?? 0
            }
            ages[label] = max(ages[label] ?? 0, queue.oldestDueAgeSeconds ?? 0)
        }
        for (queue, counts) in depths {
            for state in JobState.unfinished {
                metrics.recordDepth(queue: queue, state: state, count: counts[state] ?? 0)
            }
            metrics.recordOldestAvailableAge(queue: queue, seconds: ages[queue] ?? 0)
        }
        metrics.recordLiveDaemons(try await jobs.daemons().count)
        let connections = try await client.withOpenConnection { [logger] connection in
            try await JobQueries.databaseConnections(on: connection, logger: logger)
        }
        metrics.recordDatabaseConnections(connections)
    }
}
