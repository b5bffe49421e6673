import Foundation
import Logging
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
    private let metrics = QueueMetrics()
    private let logger: Logger

    public init(client: PostgresClient, registry: WorkerRegistry, configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        let completer = JobCompleter(client: client, logger: logger)
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
                background.addTask { await self.notifier.run() }
                for producer in producers.values {
                    background.addTask { await self.pollLoop(producer) }
                }
                background.addTask { await self.every(self.configuration.lease / 3) { try await self.renewLeases() } }
                background.addTask { await self.every(self.configuration.rescueInterval) { try await self.rescue() } }
                background.addTask { await self.every(.seconds(10)) { try await self.recordDepth() } }

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
        logger.info("job daemon stopped")
    }

    private var notifier: JobNotifier {
        JobNotifier(client: client, logger: logger,
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

    private func every(_ interval: Duration, _ body: @Sendable () async throws -> Void) async {
        while !Task.isCancelled {
            do { try await body() } catch {
                if Task.isCancelled { return }
                logger.warning("queue maintenance failed: \(readableDescription(of: error))")
            }
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    func renewLeases() async throws {
        let ids = producers.values.flatMap { $0.runningJobs.keys }
        guard !ids.isEmpty else { return }
        try await client.withConnection { connection in
            try await JobQueries.renewLeases(ids: ids, lease: configuration.lease, on: connection, logger: logger)
        }
    }

    /// Takes back jobs whose daemon died; wakes the queues that got work back.
    func rescue() async throws {
        let queues = try await client.withConnection { connection in
            let queues = try await JobQueries.rescueExpired(limit: 1_000, on: connection, logger: logger)
            try await JobQueries.notify(queues: Set(queues), on: connection, logger: logger)
            return queues
        }
        if !queues.isEmpty { logger.notice("rescued \(queues.count) job(s) whose lease had expired") }
    }

    func recordDepth() async throws {
        let status = try await JobClient(client: client, logger: logger).status()
        for queue in status {
            for state in JobState.unfinished {
                metrics.recordDepth(queue: queue.queue, state: state, count: queue.counts[state] ?? 0)
            }
        }
    }
}
