import Foundation

/// How and when a job should run; every field has the database's default.
public struct EnqueueOptions: Sendable, Equatable {
    public var queue: String = "default"
    /// Lower runs first; negative values jump ahead of the default 0.
    public var priority: Int = 0
    /// Not before this moment; `nil` means now (by the database's clock).
    public var runAt: Date?
    public var maxAttempts: Int = 25
    /// While a job with this key is unfinished, enqueueing another with it does nothing.
    /// Put a period into the key (`"report:2025-09-14"`) to make a job unique per period.
    public var uniqueKey: String?
    public var tags: [String] = []

    public init(queue: String = "default", priority: Int = 0, runAt: Date? = nil, delay: Duration? = nil,
                maxAttempts: Int = 25, uniqueKey: String? = nil, tags: [String] = []) {
        self.queue = queue
        self.priority = priority
        self.runAt = runAt ?? delay.map { Date().addingTimeInterval($0.timeInterval) }
        self.maxAttempts = maxAttempts
        self.uniqueKey = uniqueKey
        self.tags = tags
    }
}

/// A job to insert: its kind, its arguments as a JSON object, and options.
public struct NewJob: Sendable, Equatable {
    public var kind: String
    /// The arguments as JSON text (an object).
    public var argsJSON: String
    public var options: EnqueueOptions

    /// A job from raw JSON arguments (the CLI, the HTTP intake, other languages' payloads).
    public init(kind: String, argsJSON: String = "{}", options: EnqueueOptions = .init()) {
        self.kind = kind
        self.argsJSON = argsJSON
        self.options = options
    }

    /// A job from a typed payload, stored under the payload's kind.
    public init<Payload: JobPayload>(_ payload: Payload, options: EnqueueOptions = .init()) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .iso8601
        self.init(kind: Payload.kind, argsJSON: String(decoding: try encoder.encode(payload), as: UTF8.self), options: options)
    }
}

/// What an enqueue did.
public struct EnqueueResult: Sendable, Equatable {
    public var id: Int64
    /// `false` when a unique key was already held: `id` is then the existing job's.
    public var inserted: Bool

    public init(id: Int64, inserted: Bool) {
        self.id = id
        self.inserted = inserted
    }
}

extension Duration {
    /// Seconds as a floating-point number.
    public var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
