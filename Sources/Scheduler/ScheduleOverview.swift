import Foundation
import Logging
import PostgresNIO
import Queue

/// One schedule as operators see it (`evently-jobs schedules`, `GET /v1/schedules`): its rule,
/// the next fire times and the last tick enqueued.
public struct ScheduleOverview: Sendable, Encodable {
    public var name: String
    public var cron: String
    public var timeZone: String
    public var kind: String
    public var queue: String
    public var enabled: Bool
    public var nextFireTimes: [Date]
    public var lastTick: Date?

    enum CodingKeys: String, CodingKey {
        case name, cron, kind, queue, enabled
        case timeZone = "time_zone", nextFireTimes = "next_fire_times", lastTick = "last_tick"
    }

    /// The overview of each of `schedules`, with `next` upcoming fire times after `now`.
    public static func list(_ schedules: [Schedule], next: Int, now: Date = Date(), client: PostgresClient,
                            logger: Logger) async throws -> [ScheduleOverview] {
        var overviews: [ScheduleOverview] = []
        for schedule in schedules {
            var upcoming: [Date] = []
            var cursor = now
            while upcoming.count < next, let fire = schedule.expression.nextFireDate(after: cursor) {
                upcoming.append(fire)
                cursor = fire
            }
            let last = try await ScheduleTicks.lastTick(schedule: schedule.name, client: client, logger: logger)
            overviews.append(ScheduleOverview(
                name: schedule.name, cron: schedule.expression.text, timeZone: schedule.expression.timeZone.identifier,
                kind: schedule.kind, queue: schedule.queue, enabled: schedule.enabled, nextFireTimes: upcoming, lastTick: last))
        }
        return overviews
    }
}

extension Schedule {
    /// The schedule's job, enqueued now by an operator ("run now"), outside its ticks: it does
    /// not count as a tick, and a second press within the same second is not doubled.
    public func jobRunNow(at now: Date = Date()) -> NewJob {
        var job = job(for: now)
        job.options.uniqueKey = "schedule:\(name):manual:\(Int64(now.timeIntervalSince1970))"
        job.options.tags = ["schedule:\(name)", "manual"]
        return job
    }
}
