import Foundation

/// One queue's figures for operators (`evently-jobs status`, `GET /v1/queues`, metrics).
public struct QueueStatus: Sendable, Codable, Equatable {
    public var queue: String
    public var paused: Bool
    /// Jobs per state; finished states count the last `recentWindow`.
    public var counts: [JobState: Int]
    /// Age in seconds of the oldest job that is due and waiting, if any.
    public var oldestDueAgeSeconds: Double?
    /// Jobs completed in the recent window.
    public var completedRecently: Int
    public var recentWindowSeconds: Int
    /// Job kind → jobs waiting in this queue that no live daemon can run (none works this queue
    /// with a worker for the kind). They wait, never discarded, until such a daemon starts.
    public var withoutLiveWorker: [String: Int] = [:]

    enum CodingKeys: String, CodingKey {
        case queue, paused, counts
        case oldestDueAgeSeconds = "oldest_available_age_seconds"
        case completedRecently = "completed_recently"
        case recentWindowSeconds = "recent_window_seconds"
        case withoutLiveWorker = "without_live_worker"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(queue, forKey: .queue)
        try container.encode(paused, forKey: .paused)
        try container.encode(Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0.rawValue, counts[$0] ?? 0) }), forKey: .counts)
        try container.encode(oldestDueAgeSeconds, forKey: .oldestDueAgeSeconds)
        try container.encode(completedRecently, forKey: .completedRecently)
        try container.encode(recentWindowSeconds, forKey: .recentWindowSeconds)
        try container.encode(withoutLiveWorker, forKey: .withoutLiveWorker)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        queue = try container.decode(String.self, forKey: .queue)
        paused = try container.decode(Bool.self, forKey: .paused)
        let raw = try container.decode([String: Int].self, forKey: .counts)
        counts = Dictionary(uniqueKeysWithValues: raw.compactMap { key, value in JobState(rawValue: key).map { ($0, value) } })
        oldestDueAgeSeconds = try container.decodeIfPresent(Double.self, forKey: .oldestDueAgeSeconds)
        completedRecently = try container.decode(Int.self, forKey: .completedRecently)
        recentWindowSeconds = try container.decode(Int.self, forKey: .recentWindowSeconds)
        withoutLiveWorker = try container.decodeIfPresent([String: Int].self, forKey: .withoutLiveWorker) ?? [:]
    }

    init(queue: String, paused: Bool, counts: [JobState: Int], oldestDueAgeSeconds: Double?, completedRecently: Int, recentWindowSeconds: Int) {
        self.queue = queue
        self.paused = paused
        self.counts = counts
        self.oldestDueAgeSeconds = oldestDueAgeSeconds
        self.completedRecently = completedRecently
        self.recentWindowSeconds = recentWindowSeconds
    }
}
