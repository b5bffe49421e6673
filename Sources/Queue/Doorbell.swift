/// Wakes one waiting task; rings while nobody waits are folded into one.
///
/// Used where a loop should sleep until there may be work: a NOTIFY, a freed slot, a poll tick.
public final class Doorbell: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public func ring() { continuation.yield() }

    /// Returns after the next ring (or at once if one is pending); returns `false` when the
    /// waiting task was cancelled.
    @discardableResult
    public func wait() async -> Bool {
        var iterator = stream.makeAsyncIterator()
        return await iterator.next() != nil
    }
}
