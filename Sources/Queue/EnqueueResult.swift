import Foundation

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
