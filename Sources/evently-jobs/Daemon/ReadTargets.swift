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
/// The lag is checked every second against the primary's flushed WAL position: a replica that
/// has replayed everything the primary had flushed is current however long ago its last replayed
/// transaction was; one that has not is as far behind as its last replayed commit is old (an
/// overestimate after a quiet spell, hence two checks over the limit before reads leave it). A
/// replica that is not in recovery (promoted, split off) is not used. When the primary itself does
/// not answer, the check changes nothing.
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

    /// A failure of a read on the replica that the primary would not have: its connection
    /// lost, or its query cancelled for a conflict with replay (40001) or a shutdown (57P0x).
    static func isReplicaTrouble(_ error: any Error) -> Bool {
        if error is ConnectionClosed { return true }
        guard let error = error as? PSQLError else { return false }
        guard let state = error.serverInfo?[.sqlState] else { return error.code == .serverClosedConnection || error.code == .connectionError }
        return state == "40001" || state.hasPrefix("57P") || state.hasPrefix("08")
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

    private enum Health: Equatable {
        case current(lag: Double)
        case behind(lag: Double)
        case unreachable(String)
    }

    /// What the last checks found: consecutive checks over the limit, and the choice last logged
    /// (`nil` before the first, so the first is always said).
    private struct State {
        var overLimit = 0
        var logged: Bool?
    }
    private let state = Mutex(State())
    /// Consecutive checks over the lag limit before reads leave the replica: one check can land
    /// in the moment between a commit on the primary and its replay after a quiet spell.
    static let checksOverLimit = 2

    private func check() async {
        guard let replica else { return }
        let primary = self.primary
        let position: String
        do {
            position = try await withDeadline(Self.checkDeadline) {
                try await primary.withOpenConnection { connection -> String in
                    // The flushed position: what a replica can have received.
                    for try await lsn in try await connection.query("SELECT pg_current_wal_flush_lsn()::text", logger: self.logger)
                        .decode(String.self) {
                        return lsn
                    }
                    return "0/0"
                }
            }
        } catch {
            // The primary is the trouble, not the replica: nothing to compare with; keep the choice.
            logger.debug("replica check skipped: the primary did not answer: \(readableDescription(of: error))")
            return
        }
        let health: Health
        do {
            let (inRecovery, lag) = try await withDeadline(Self.checkDeadline) {
                try await replica.withOpenConnection { connection -> (Bool, Double) in
                    let rows = try await connection.query("""
                        SELECT pg_is_in_recovery(),
                               CASE WHEN NOT pg_is_in_recovery() THEN 0
                                    WHEN pg_wal_lsn_diff(\(position)::pg_lsn, pg_last_wal_replay_lsn()) <= 0 THEN 0
                                    ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
                               END::float8
                        """, logger: self.logger)
                    for try await row in rows.decode((Bool, Double).self) { return row }
                    return (true, .infinity)
                }
            }
            if !inRecovery {
                // Promoted or split off: it no longer follows this primary.
                health = .unreachable("it is not in recovery (promoted or split off), so it no longer follows the primary")
            } else {
                health = lag <= Double(maxLag.components.seconds) + Double(maxLag.components.attoseconds) / 1e18
                    ? .current(lag: lag) : .behind(lag: lag)
            }
        } catch {
            health = .unreachable(readableDescription(of: error))
        }
        record(health)
    }

    private func record(_ health: Health) {
        switch health {
        case .current(let lag), .behind(let lag): lagSeconds.record(lag.isFinite ? lag : -1)
        case .unreachable: lagSeconds.record(-1)
        }
        let (useReplica, announce) = state.withLock { state -> (Bool, Bool) in
            let useReplica: Bool
            switch health {
            case .current:
                state.overLimit = 0
                useReplica = true
            case .behind:
                state.overLimit += 1
                useReplica = state.overLimit < Self.checksOverLimit && state.logged == true
            case .unreachable:
                state.overLimit = Self.checksOverLimit
                useReplica = false
            }
            defer { state.logged = useReplica }
            return (useReplica, state.logged != useReplica)
        }
        onReplica.store(useReplica, ordering: .relaxed)
        replicaReads.record(useReplica ? 1 : 0)
        guard announce else { return }
        switch health {
        case .current(let lag):
            logger.notice("read-only requests go to the replica (lag \(String(format: "%.1f", lag)) s)")
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
