import Foundation

/// Attempt `attempt` of job `jobID` asks for the sending mark of notification `id`, under its
/// token (`"job:attempt"`), before it talks to the provider.
public struct SendingMarkRequest: Sendable, Hashable {
    public var id: UUID
    public var token: String
    public var jobID: Int64
    public var attempt: Int

    public init(id: UUID, token: String, jobID: Int64, attempt: Int) {
        self.id = id
        self.token = token
        self.jobID = jobID
        self.attempt = attempt
    }
}
