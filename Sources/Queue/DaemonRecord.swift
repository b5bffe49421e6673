import Foundation

/// A live daemon as operators see it (`evently-jobs status`, `GET /v1/daemons`).
public struct DaemonRecord: Sendable, Codable, Equatable {
    /// Its worker name, as recorded in `attempted_by` of the jobs it runs.
    public var name: String
    public var host: String
    public var pid: Int
    public var version: String
    public var startedAt: Date
    public var heartbeatAt: Date
    /// Queue name → slots.
    public var queues: [String: Int]
    /// The job kinds it has workers for.
    public var kinds: [String]

    enum CodingKeys: String, CodingKey {
        case name, host, pid, version, queues, kinds
        case startedAt = "started_at", heartbeatAt = "heartbeat_at"
    }
}
