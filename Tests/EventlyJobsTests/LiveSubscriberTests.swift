import Foundation
import Testing
@testable import evently_jobs

/// The order a stream sends changes in when catch-ups overlap.
@Suite struct LiveSubscriberTests {
    func change(_ sequence: Int64) -> LiveMessage {
        LiveMessage(.notification, sequence: sequence, json: #"{"n": \#(sequence)}"#)
    }

    /// The hub's catch-up (after a lost LISTEN) can run while the stream's own, at connect, is
    /// still reading: live changes that arrived meanwhile wait until the last catch-up ends, so
    /// the missed change 1 goes before the live 2 and 3.
    @Test func overlappingCatchUpsKeepMissedChangesAheadOfLiveOnes() async {
        let subscriber = LiveSubscriber(id: 1, caller: Caller(userID: UUID(), email: "ann@evently.example", role: .user),
                                        addressKey: nil, cursor: 0, capacity: 16)
        subscriber.beginCatchingUp()        // the stream's own, at connect
        subscriber.deliver(change(2))       // live, announced meanwhile
        subscriber.deliver(change(3))
        subscriber.beginCatchingUp()        // the hub's, from the stream's cursor (3): nothing to send
        subscriber.finishCatchingUp()
        subscriber.deliverMissed(change(1)) // the stream's own catch-up reaches change 1
        subscriber.deliverMissed(change(2))
        subscriber.finishCatchingUp()
        subscriber.end(.shuttingDown)
        var sent: [Int64] = []
        for await message in subscriber.messages { if let sequence = message.sequence { sent.append(sequence) } }
        #expect(sent == [1, 2, 3])
    }

    /// A change committed just before a stream resumed is announced live while the stream reads
    /// what it missed: the live copy of change 1 waits in the hold, the catch-up then reads 1, 2
    /// and 3. The stream sends 1, 2, 3, once each (it sent 2, 3, 1 in a loaded CI run of
    /// `LiveTests.reconnectingWithTheLastIDReplaysWhatWasMissedInOrderOnce`).
    @Test func aMissedChangeThatAlsoCameLiveGoesInItsPlace() async {
        let subscriber = LiveSubscriber(id: 1, caller: Caller(userID: UUID(), email: "ann@evently.example", role: .user),
                                        addressKey: nil, cursor: 0, capacity: 16)
        subscriber.beginCatchingUp()
        subscriber.deliver(change(1))       // live, before the catch-up's read came back
        subscriber.deliverMissed(change(1))
        subscriber.deliverMissed(change(2))
        subscriber.deliverMissed(change(3))
        subscriber.deliver(change(2))       // the rest of the live announcement, late
        subscriber.deliver(change(3))
        subscriber.deliver(change(4))       // newer than the catch-up's read: waits for its end
        subscriber.finishCatchingUp()
        subscriber.end(.shuttingDown)
        var sent: [Int64] = []
        for await message in subscriber.messages { if let sequence = message.sequence { sent.append(sequence) } }
        #expect(sent == [1, 2, 3, 4])
    }
}
