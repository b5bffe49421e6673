/// The attempt no longer owns its job (an operator cancelled it, or its lease ran out and
/// another daemon took it back): whatever the caller's transaction did must roll back.
public struct JobNoLongerOwned: Error, CustomStringConvertible {
    public var jobID: Int64
    public var attempt: Int
    public var description: String { "job \(jobID) attempt \(attempt) no longer owns the job (cancelled or rescued)" }
}
