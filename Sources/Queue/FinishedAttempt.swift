/// The result of one attempt, ready to be written back.
struct FinishedAttempt: Sendable, Equatable {
    var id: Int64
    var attempt: Int
    var newState: JobState
    /// When to run next, from now; `nil` keeps `run_at`.
    var runAfter: Duration?
    /// A JSON object recorded in `errors` (the time is added by the database).
    var errorJSON: String?
    /// Snoozes and hand-backs do not count as an attempt.
    var refundsAttempt: Bool = false
}
