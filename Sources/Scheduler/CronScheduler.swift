import Foundation
import Logging
import Metrics
import PostgresNIO
import Queue
import ServiceLifecycle
import Synchronization

/// Enqueues each schedule's jobs at their ticks, exactly once per tick across all daemons.
///
/// Every daemon runs a scheduler; each computes the same ticks and records a tick in
/// `evently_jobs.schedule_ticks` in the same transaction as its job. The table's primary key lets
/// only the first daemon through, so no leader election is needed and a daemon that dies does
/// not stop the schedule. After a restart, a schedule resumes from its last recorded tick and
/// treats what it missed by its ``CatchUpPolicy``.
public final class CronScheduler: Service, Sendable {
    public let schedules: [Schedule]
    public let catchUp: CatchUpPolicy
    private let client: PostgresClient
    private let logger: Logger
    private let instance: String
    /// Per schedule, the latest tick already dealt with by this daemon.
    private let cursors = Mutex<[String: Date]>([:])
    /// `evently_scheduler_ticks_total{schedule, result}` per schedule: ticks this daemon
    /// enqueued, and ticks it skipped (another daemon took them, or the catch-up policy left
    /// them out).
    private let ticksCounters: [String: (enqueued: Counter, skipped: Counter)]

    public init(schedules: [Schedule], catchUp: CatchUpPolicy = .default, client: PostgresClient,
                instance: String = "\(ProcessInfo.processInfo.hostName):\(getpid())", logger: Logger,
                metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.schedules = schedules.filter(\.enabled)
        self.catchUp = catchUp
        self.client = client
        self.instance = instance
        self.logger = logger
        var counters: [String: (enqueued: Counter, skipped: Counter)] = [:]
        for schedule in self.schedules where counters[schedule.name] == nil {
            counters[schedule.name] = (
                Counter(label: "evently_scheduler_ticks_total", dimensions: [("schedule", schedule.name), ("result", "enqueued")],
                        factory: metricsFactory),
                Counter(label: "evently_scheduler_ticks_total", dimensions: [("schedule", schedule.name), ("result", "skipped")],
                        factory: metricsFactory))
        }
        ticksCounters = counters
    }

    public func run() async throws {
        guard !schedules.isEmpty else {
            // A service that returns early would stop the whole group: idle until shutdown.
            try? await gracefulShutdown()
            return
        }
        logger.info("scheduler started", metadata: ["schedules": "\(schedules.map(\.name).joined(separator: ","))"])
        var passes = 0
        while !Task.isCancelledOrShuttingDown {
            let now = Date()
            do { try await tick(now: now) } catch {
                logger.warning("scheduler pass failed: \(readableDescription(of: error))")
            }
            // Sleep to the next tick of any schedule, but wake at least every minute so a
            // changed clock or a failed pass is noticed.
            let next = schedules.compactMap { $0.expression.nextFireDate(after: Date()) }.min() ?? now.addingTimeInterval(60)
            let wait = min(max(next.timeIntervalSinceNow, 0.01), 60)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 5)) }
            } catch { return }
            passes += 1
            if passes % 1_000 == 0 {
                try? await ScheduleTicks.prune(olderThan: .seconds(30 * 86_400), client: client, logger: logger)
            }
        }
    }

    /// One pass at time `now`: enqueues every tick due since the last pass, by the policy.
    /// Returns the ticks this daemon enqueued (ticks another daemon got first are left out).
    @discardableResult
    public func tick(now: Date) async throws -> [(schedule: String, tick: Date, jobID: Int64)] {
        var enqueued: [(schedule: String, tick: Date, jobID: Int64)] = []
        for schedule in schedules {
            let cursor = try await cursor(for: schedule, now: now)
            let earliest = max(cursor, now.addingTimeInterval(-catchUp.window.timeInterval))
            var due: [Date] = []
            var next = schedule.expression.nextFireDate(after: earliest)
            while let tick = next, tick <= now, due.count < 10_000 {
                due.append(tick)
                next = schedule.expression.nextFireDate(after: tick)
            }
            let selected = catchUp.select(due)
            ticksCounters[schedule.name]?.skipped.increment(by: due.count - selected.count)
            for tick in selected {
                if let jobID = try await enqueue(schedule, tick: tick) {
                    enqueued.append((schedule.name, tick, jobID))
                    ticksCounters[schedule.name]?.enqueued.increment()
                } else {
                    ticksCounters[schedule.name]?.skipped.increment()
                }
            }
            cursors.withLock { $0[schedule.name] = max(cursor, due.last ?? cursor) }
        }
        if !enqueued.isEmpty {
            logger.info("scheduler enqueued \(enqueued.count) job(s)", metadata: [
                "ticks": "\(enqueued.map { "\($0.schedule)@\(Int64($0.tick.timeIntervalSince1970))" }.joined(separator: ","))",
            ])
        }
        return enqueued
    }

    /// Where a schedule resumes: this daemon's last pass, else the last tick recorded in the
    /// database, else now (a new schedule does not fire for the past).
    private func cursor(for schedule: Schedule, now: Date) async throws -> Date {
        if let cursor = cursors.withLock({ $0[schedule.name] }) { return cursor }
        let recorded = try await ScheduleTicks.lastTick(schedule: schedule.name, client: client, logger: logger)
        let cursor = recorded ?? now.addingTimeInterval(-0.001)
        cursors.withLock { $0[schedule.name] = cursor }
        return cursor
    }

    /// Records the tick and enqueues its job in one transaction; `nil` if the tick was taken.
    private func enqueue(_ schedule: Schedule, tick: Date) async throws -> Int64? {
        try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection -> Int64? in
                guard try await ScheduleTicks.claim(schedule: schedule.name, tick: tick, by: instance,
                                                    on: connection, logger: logger) else { return nil }
                let result = try await JobClient.enqueue(schedule.job(for: tick), on: connection, logger: logger)
                try await ScheduleTicks.attach(jobID: result.id, schedule: schedule.name, tick: tick,
                                               on: connection, logger: logger)
                return result.id
            }
        }
    }
}

private extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
