import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Scheduler
import Testing

@Suite(.timeLimit(.minutes(5))) struct CronSchedulerTests {
    let logger = TestDatabase.logger
    static let migrations = QueueSchema.migrations + SchedulerSchema.migrations
    /// 2026-01-01T00:00:30Z: half a minute past a tick, as a daemon starting at a random moment.
    let start = Date(timeIntervalSince1970: 1_767_225_630)

    func everyMinute(_ name: String = "minutely") throws -> Schedule {
        Schedule(name: name, expression: try CronExpression("* * * * *"), kind: "diag.noop")
    }

    func ticks(_ client: PostgresClient, _ schedule: String = "minutely") async throws -> [Date] {
        let rows = try await client.query(
            "SELECT tick FROM evently_jobs.schedule_ticks WHERE schedule = \(schedule) ORDER BY tick", logger: logger)
        var ticks: [Date] = []
        for try await tick in rows.decode(Date.self) { ticks.append(tick) }
        return ticks
    }

    func jobCount(_ client: PostgresClient) async throws -> Int {
        let rows = try await client.query("SELECT count(*)::bigint FROM evently_jobs.jobs", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    func minute(_ n: Int) -> Date { Date(timeIntervalSince1970: 1_767_225_600 + Double(n) * 60) }

    @Test func threeSchedulersEnqueueEachTickExactlyOnce() async throws {
        try await TestDatabase.withClient(migrations: Self.migrations) { client in
            let schedulers = try (0..<3).map {
                CronScheduler(schedules: [try everyMinute()], client: client, instance: "daemon-\($0)", logger: logger)
            }
            for scheduler in schedulers { try await scheduler.tick(now: start) }
            var enqueuedPerPass: [Int] = []
            for pass in 1...6 {
                // Each daemon sees the tick at a slightly different moment, all at once.
                let now = start.addingTimeInterval(Double(pass) * 60)
                let counts = try await withThrowingTaskGroup(of: Int.self) { group in
                    for (index, scheduler) in schedulers.enumerated() {
                        group.addTask { try await scheduler.tick(now: now.addingTimeInterval(Double(index) * 0.2)).count }
                    }
                    return try await group.reduce(0, +)
                }
                enqueuedPerPass.append(counts)
            }
            #expect(enqueuedPerPass == [1, 1, 1, 1, 1, 1])
            #expect(try await ticks(client) == (1...6).map(minute))
            #expect(try await jobCount(client) == 6)
            let keys = try await client.query(
                "SELECT count(DISTINCT unique_key)::bigint FROM evently_jobs.jobs WHERE unique_key LIKE 'schedule:minutely:%'",
                logger: logger).collect().first?.decode(Int.self)
            #expect(keys == 6)
        }
    }

    @Test func restartAfterAGapEnqueuesOnlyTheLatestMissedTick() async throws {
        try await TestDatabase.withClient(migrations: Self.migrations) { client in
            let before = CronScheduler(schedules: [try everyMinute()], client: client, logger: logger)
            try await before.tick(now: start)
            try await before.tick(now: minute(1).addingTimeInterval(1))
            // Down for half an hour; a new daemon resumes from the last recorded tick.
            let after = CronScheduler(schedules: [try everyMinute()], catchUp: .latest(window: .seconds(3600)), client: client, logger: logger)
            let enqueued = try await after.tick(now: minute(31).addingTimeInterval(10))
            #expect(enqueued.map(\.tick) == [minute(31)])
            #expect(try await ticks(client) == [minute(1), minute(31)])
        }
    }

    @Test func missedTicksOutsideTheWindowAreSkipped() async throws {
        try await TestDatabase.withClient(migrations: Self.migrations) { client in
            let daily = Schedule(name: "daily", expression: try CronExpression("@daily"), kind: "diag.noop")
            let first = CronScheduler(schedules: [daily], client: client, logger: logger)
            try await first.tick(now: minute(24 * 60 - 1))          // Jan 1 23:59: a new schedule starts now
            #expect(try await ticks(client, "daily") == [])
            try await first.tick(now: minute(24 * 60).addingTimeInterval(10))
            #expect(try await ticks(client, "daily") == [minute(24 * 60)], "Jan 2 midnight fires")
            // Down until 02:00 on Jan 3: that midnight is two hours old, outside the hour's window.
            let late = CronScheduler(schedules: [daily], catchUp: .latest(window: .seconds(3600)), client: client, logger: logger)
            #expect(try await late.tick(now: minute(50 * 60)).isEmpty)
            // Down again, back at 00:20 on Jan 4: within the window, so Jan 4's midnight fires.
            let onTime = CronScheduler(schedules: [daily], catchUp: .latest(window: .seconds(3600)), client: client, logger: logger)
            let enqueued = try await onTime.tick(now: minute(72 * 60 + 20))
            #expect(enqueued.map(\.tick) == [minute(72 * 60)])
            #expect(try await ticks(client, "daily") == [minute(24 * 60), minute(72 * 60)])
        }
    }

    @Test func catchUpAllEnqueuesEveryMissedTickUpToTheLimit() async throws {
        try await TestDatabase.withClient(migrations: Self.migrations) { client in
            let before = CronScheduler(schedules: [try everyMinute()], client: client, logger: logger)
            try await before.tick(now: start)
            try await before.tick(now: minute(1).addingTimeInterval(5))
            let all = CronScheduler(schedules: [try everyMinute()], catchUp: .all(window: .seconds(3600), limit: 5),
                                    client: client, logger: logger)
            let enqueued = try await all.tick(now: minute(10).addingTimeInterval(5))
            #expect(enqueued.map(\.tick) == (6...10).map(minute), "the 5 most recent of the 9 missed ticks")
            let none = CronScheduler(schedules: [try everyMinute()], catchUp: .none, client: client, logger: logger)
            let afterGap = try await none.tick(now: minute(20).addingTimeInterval(5))
            #expect(afterGap.map(\.tick) == [minute(20)], "none: only the tick that is due now")
        }
    }

    @Test func disabledSchedulesDoNotFire() async throws {
        try await TestDatabase.withClient(migrations: Self.migrations) { client in
            var schedule = try everyMinute()
            schedule.enabled = false
            let scheduler = CronScheduler(schedules: [schedule], client: client, logger: logger)
            try await scheduler.tick(now: start)
            #expect(try await scheduler.tick(now: minute(5)).isEmpty)
        }
    }

    @Test func runningServiceEnqueuesOnTheRealClock() async throws {
        try await TestDatabase.withClient(migrations: Self.migrations) { client in
            let schedule = Schedule(name: "fast", expression: try CronExpression("@every 1s"), kind: "diag.noop",
                                    argsJSON: #"{"from": "scheduler"}"#, queue: "maintenance", priority: 3)
            let scheduler = CronScheduler(schedules: [schedule], client: client, logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await scheduler.run() }
                defer { group.cancelAll() }
                // 30 s: in CI, with every suite starting at once, 10 s once saw fewer than two ticks.
                let deadline = ContinuousClock.now + .seconds(30)
                while try await ticks(client, "fast").count < 2 && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(try await ticks(client, "fast").count >= 2)
            let row = try await client.query(
                "SELECT kind, queue, priority, args::text FROM evently_jobs.jobs ORDER BY id LIMIT 1", logger: logger)
                .collect().first?.decode((String, String, Int, String).self)
            #expect(row?.0 == "diag.noop")
            #expect(row?.1 == "maintenance")
            #expect(row?.2 == 3)
            #expect(row?.3 == #"{"from": "scheduler"}"#)
        }
    }
}
