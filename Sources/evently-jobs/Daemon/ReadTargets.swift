import Foundation
import Logging
import Metrics
import PostgresNIO
import Queue
import ServiceLifecycle
import Synchronization

/// Where the daemon's read-only requests go (analytics, reports, event lists, queue status and
/// the console's read-only views): the replica (`database.replica_url`) while it answers and is
/// no more than `database.replica_max_lag` behind, else the primary. Reads that must see the
/// caller's own writes (a booking just made) never come here.
///
/// The lag is checked every second against the primary's WAL position: a replica that has
/// replayed everything the primary had written is current however long ago its last replayed
/// transaction was; one that has not is as far behind as its last replayed commit is old.
final class ReadTargets: Service, Sendable {
    let primary: PostgresClient
    let replica: PostgresClient?
    let maxLag: Duration
    private let logger: Logger
    private let onReplica = Atomic<Bool>(false)
    private let replicaReads: Gauge
    private let lagSeconds: Gauge
    private let factory: any MetricsFactory

    /// The replica pool's `application_name`.
    static let applicationName = "evently-jobs-replica-reads"
    static let checkInterval: Duration = .seconds(1)
    /// How long one check may wait for either server.
    static let checkDeadline: Duration = .seconds(2)

    init(primary: PostgresClient, replica: PostgresClient?, maxLag: Duration, logger: Logger, metricsFactory: any MetricsFactory) {
        self.primary = primary
        self.replica = replica
        self.maxLag = maxLag
        self.logger = logger
        self.factory = metricsFactory
        replicaReads = Gauge(label: "evently_replica_reads", factory: metricsFactory)
        lagSeconds = Gauge(label: "evently_replica_lag_seconds", factory: metricsFactory)
    }

    /// The client for a read that may be a little behind.
    var reads: PostgresClient {
        guard let replica, onReplica.load(ordering: .relaxed) else { return primary }
        return replica
    }

    /// Whether reads go to the replica now.
    var readingFromReplica: Bool { replica != nil && onReplica.load(ordering: .relaxed) }

    func run() async throws {
        guard replica != nil else { return try await gracefulShutdown() }
        replicaReads.record(0)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.check()
                do { try await Task.sleep(for: Self.checkInterval) } catch { return }
            }
        }
    }

    private enum Health {
        case current(lag: Double)
        case behind(lag: Double)
        case unreachable(String)
    }

    private func check() async {
        guard let replica else { return }
        let health: Health
        do {
            let primary = self.primary
            let position = try await withDeadline(Self.checkDeadline) {
                try await primary.withOpenConnection { connection -> String in
                    for try await lsn in try await connection.query("SELECT pg_current_wal_lsn()::text", logger: self.logger).decode(String.self) {
                        return lsn
                    }
                    return "0/0"
                }
            }
            let lag = try await withDeadline(Self.checkDeadline) {
                try await replica.withOpenConnection { connection -> Double in
                    let rows = try await connection.query("""
                        SELECT CASE
                            WHEN NOT pg_is_in_recovery() THEN 0
                            WHEN pg_wal_lsn_diff(\(position)::pg_lsn, pg_last_wal_replay_lsn()) <= 0 THEN 0
                            ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
                        END::float8
                        """, logger: self.logger)
                    for try await lag in rows.decode(Double.self) { return lag }
                    return .infinity
                }
            }
            health = lag <= Double(maxLag.components.seconds) + Double(maxLag.components.attoseconds) / 1e18
                ? .current(lag: lag) : .behind(lag: lag)
        } catch {
            health = .unreachable(readableDescription(of: error))
        }
        record(health)
    }

    private func record(_ health: Health) {
        let useReplica: Bool
        switch health {
        case .current(let lag):
            lagSeconds.record(lag)
            useReplica = true
        case .behind(let lag):
            lagSeconds.record(lag.isFinite ? lag : -1)
            useReplica = false
        case .unreachable:
            useReplica = false
        }
        let was = onReplica.exchange(useReplica, ordering: .relaxed)
        replicaReads.record(useReplica ? 1 : 0)
        guard was != useReplica else { return }
        switch health {
        case .current(let lag):
            logger.notice("read-only requests go to the replica again (lag \(String(format: "%.1f", lag)) s)")
        case .behind(let lag):
            Counter(label: "evently_replica_fallbacks_total", dimensions: [("reason", "lag")], factory: factory).increment()
            logger.warning("""
                read-only requests go to the primary: the replica is \(lag.isFinite ? String(format: "%.1f s", lag) : "an unknown time") \
                behind (database.replica_max_lag \(maxLag))
                """)
        case .unreachable(let reason):
            Counter(label: "evently_replica_fallbacks_total", dimensions: [("reason", "unreachable")], factory: factory).increment()
            logger.warning("read-only requests go to the primary: the replica does not answer: \(reason)")
        }
    }
}
