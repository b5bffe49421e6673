import Scheduler

/// `[scheduler]` and `[schedule.NAME]`: whether this daemon runs the ``CronScheduler``, its
/// catch-up policy and the schedules.
struct ScheduleSettings: Sendable {
    var enabled = true
    var catchUp: CatchUpPolicy = .default
    var schedules: [Schedule] = []
}
