import Foundation
import Queue

/// A recurring job: a cron expression and the job it enqueues at each tick.
public struct Schedule: Sendable {
    public var name: String
    public var expression: CronExpression
    public var kind: String
    public var argsJSON: String
    public var queue: String
    public var priority: Int
    public var maxAttempts: Int
    public var enabled: Bool

    /// A scheduled job gets few attempts by default: the next tick brings a fresh one.
    public init(name: String, expression: CronExpression, kind: String, argsJSON: String = "{}",
                queue: String = "default", priority: Int = 0, maxAttempts: Int = 5, enabled: Bool = true) {
        self.name = name
        self.expression = expression
        self.kind = kind
        self.argsJSON = argsJSON
        self.queue = queue
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.enabled = enabled
    }

    /// The job for the tick at `tick`. Its unique key names schedule and tick, so even a job
    /// enqueued by hand for the same tick is not doubled while it is unfinished.
    func job(for tick: Date) -> NewJob {
        NewJob(kind: kind, argsJSON: argsJSON, options: EnqueueOptions(
            queue: queue, priority: priority, maxAttempts: maxAttempts,
            uniqueKey: "schedule:\(name):\(Int64(tick.timeIntervalSince1970))"))
    }
}

/// What to do with ticks that passed while no daemon was running.
public enum CatchUpPolicy: Sendable, Equatable {
    /// Skip them; fire only ticks that are due now (within a minute).
    case none
    /// Enqueue only the most recent missed tick, if it is within `window` (the default).
    case latest(window: Duration)
    /// Enqueue every missed tick within `window`, at most `limit` per schedule.
    case all(window: Duration, limit: Int)

    /// How far back ticks are caught up unless configured: one hour.
    public static let defaultWindow: Duration = .seconds(3600)
    /// The most missed ticks `.all` enqueues per schedule unless configured.
    public static let defaultLimit = 100
    public static let `default` = CatchUpPolicy.latest(window: defaultWindow)

    /// How far back a tick can be and still fire.
    var window: Duration {
        switch self {
        case .none: return .seconds(60)
        case .latest(let window), .all(let window, _): return window
        }
    }

    /// Chooses which of the due ticks (ascending) to enqueue.
    func select(_ due: [Date]) -> [Date] {
        switch self {
        case .none, .latest: return due.last.map { [$0] } ?? []
        case .all(_, let limit): return Array(due.suffix(limit))
        }
    }
}
