/// Errors of the queue library itself.
public enum QueueError: Error, CustomStringConvertible, Equatable {
    case unexpected(String)
    case duplicateKind(String)
    case jobNotFound(Int64)
    case invalidState(id: Int64, state: JobState, action: String)
    case invalidArguments(String)
    /// Retrying the job would make it unfinished while another unfinished job holds its unique key.
    case uniqueKeyHeld(id: Int64, key: String)

    public var description: String {
        switch self {
        case .unexpected(let message): return message
        case .duplicateKind(let kind): return "two workers are registered for job kind '\(kind)'"
        case .jobNotFound(let id): return "no job with id \(id)"
        case let .invalidState(id, state, action): return "job \(id) is \(state.rawValue) and cannot be \(action)"
        case .invalidArguments(let message): return message
        case let .uniqueKeyHeld(id, key):
            return "job \(id) cannot be retried: another unfinished job holds its unique key '\(key)'"
        }
    }
}
