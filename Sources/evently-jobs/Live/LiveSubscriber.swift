import Foundation
import Synchronization

/// One open stream, as the hub sees it: who it is for and a bounded buffer of messages that its
/// transport (WebSocket or SSE) drains.
///
/// The buffer holds at most ``LiveSettings/buffer`` messages; a message that does not fit ends
/// the stream as ``LiveEnd/tooSlow`` instead of growing memory. Changes of the user's rows are
/// sent once each (the last change numbers sent are remembered), and while the stream catches
/// up on what its client missed, newer changes wait behind the older ones.
final class LiveSubscriber: Sendable {
    let id: Int
    let caller: Caller
    /// The per-address limit's key (IPv6 per /64), `nil` when the peer is unknown.
    let addressKey: String?
    /// What the transport sends, in order. Ends when the stream ends (see ``ended``).
    let messages: AsyncStream<LiveMessage>
    private let continuation: AsyncStream<LiveMessage>.Continuation
    private let endStream: AsyncStream<LiveEnd>
    private let endContinuation: AsyncStream<LiveEnd>.Continuation
    private let capacity: Int
    private let state: Mutex<State>

    private struct State {
        var ended: LiveEnd?
        /// Catch-ups under way: the stream's own at connect, and the hub's after a lost LISTEN
        /// or a failed read can overlap; live changes are held until the last one ends.
        var catchingUp = 0
        var held: [LiveMessage] = []
        var cursor: Int64
        var start: Int64
        var recent = RecentSequences(capacity: 1_024)
        var highWater = 0
    }

    init(id: Int, caller: Caller, addressKey: String?, cursor: Int64, capacity: Int) {
        self.id = id
        self.caller = caller
        self.addressKey = addressKey
        self.capacity = capacity
        (messages, continuation) = AsyncStream.makeStream(of: LiveMessage.self, bufferingPolicy: .bufferingOldest(capacity))
        (endStream, endContinuation) = AsyncStream.makeStream(of: LiveEnd.self, bufferingPolicy: .bufferingNewest(1))
        state = Mutex(State(cursor: cursor, start: cursor))
    }

    /// The highest change number handed to the transport: where a catch-up starts.
    var cursor: Int64 { state.withLock { $0.cursor } }

    /// The change number the stream starts from (`hello`'s cursor): the transport's ids begin
    /// here, so that an id sent before the missed changes never claims them.
    var start: Int64 { state.withLock { $0.start } }

    /// Sets where the stream starts, once it is known.
    func startAt(_ sequence: Int64) {
        state.withLock { state in
            state.start = sequence
            state.cursor = max(state.cursor, sequence)
        }
    }

    /// The most messages that waited in the buffer at once.
    var bufferHighWater: Int { state.withLock { $0.highWater } }

    /// Why the stream ended, once it has.
    var ended: LiveEnd? { state.withLock { $0.ended } }

    /// Queues `message`. A change already sent is dropped; one that does not fit ends the stream.
    func deliver(_ message: LiveMessage) {
        let send = state.withLock { state -> Bool in
            guard state.ended == nil else { return false }
            if let sequence = message.sequence {
                guard state.recent.insert(sequence) else { return false }
                state.cursor = max(state.cursor, sequence)
                if state.catchingUp > 0 {
                    state.held.append(message)
                    return false
                }
            }
            return true
        }
        guard send else {
            if state.withLock({ $0.held.count > capacity }) { end(.tooSlow) }
            return
        }
        enqueue(message)
    }

    /// Sends `messages` (changes the client missed, oldest first) before anything newer: live
    /// changes that arrive meanwhile are held until ``finishCatchingUp()``.
    func beginCatchingUp() {
        state.withLock { $0.catchingUp += 1 }
    }

    func finishCatchingUp() {
        let held = state.withLock { state -> [LiveMessage] in
            // An overlapping catch-up that ends first must not release what the other has not
            // sent yet: that put live changes ahead of older missed ones (seen in CI).
            state.catchingUp = max(0, state.catchingUp - 1)
            guard state.catchingUp == 0 else { return [] }
            defer { state.held = [] }
            return state.held.sorted { ($0.sequence ?? 0) < ($1.sequence ?? 0) }
        }
        for message in held { enqueue(message) }
    }

    /// Queues a missed change during catch-up (it bypasses the hold). A missed change that
    /// also came live and waits in the hold goes now, in its place among the missed ones: left
    /// in the hold, it went out after the newer missed changes (seen in CI as 2, 3, 1).
    func deliverMissed(_ message: LiveMessage) {
        let send = state.withLock { state -> Bool in
            guard state.ended == nil, let sequence = message.sequence else { return false }
            if !state.recent.insert(sequence) {
                guard let held = state.held.firstIndex(where: { $0.sequence == sequence }) else { return false }
                state.held.remove(at: held)
            }
            state.cursor = max(state.cursor, sequence)
            return true
        }
        if send { enqueue(message) }
    }

    private func enqueue(_ message: LiveMessage) {
        switch continuation.yield(message) {
        case .enqueued(let remaining):
            let waiting = capacity - remaining
            state.withLock { $0.highWater = max($0.highWater, waiting) }
        case .dropped:
            end(.tooSlow)
        case .terminated:
            break
        @unknown default:
            break
        }
    }

    /// Ends the stream: the transport sends what is buffered (unless the client is too slow),
    /// then closes saying `reason`. Later calls change nothing.
    func end(_ reason: LiveEnd) {
        let first = state.withLock { state -> Bool in
            guard state.ended == nil else { return false }
            state.ended = reason
            return true
        }
        guard first else { return }
        continuation.finish()
        endContinuation.yield(reason)
        endContinuation.finish()
    }

    /// Waits until the stream ends and says why (`nil` when the waiting task is cancelled first).
    func waitForEnd() async -> LiveEnd? {
        var iterator = endStream.makeAsyncIterator()
        return await iterator.next()
    }
}

/// The last change numbers a stream sent, so that a change reaching it twice (live and in a
/// catch-up) is sent once.
struct RecentSequences: Sendable {
    let capacity: Int
    private var members: Set<Int64> = []
    private var order: [Int64] = []
    private var oldest = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Adds `sequence`; `false` when it was already there.
    mutating func insert(_ sequence: Int64) -> Bool {
        guard members.insert(sequence).inserted else { return false }
        if order.count < capacity {
            order.append(sequence)
        } else {
            members.remove(order[oldest])
            order[oldest] = sequence
            oldest = (oldest + 1) % capacity
        }
        return true
    }
}
