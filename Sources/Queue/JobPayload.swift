/// A job's arguments with the kind they are stored under.
///
/// The kind is a stored contract (rows in the database carry it): choose it once, such as
/// `"email.send"`, and never rename it. Payloads carry ids rather than whole records, so a job
/// reads fresh data when it runs.
public protocol JobPayload: Codable, Sendable {
    static var kind: String { get }
}
