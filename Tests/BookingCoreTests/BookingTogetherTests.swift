import BookingCore
import EventlyTestSupport
import Foundation
import PostgresNIO
import Synchronization
import Testing

/// `BookingStore.bookTogether` and `GroupCombiner`: a group's answers are those of booking its
/// requests one after another, with one seat update and one commit.
@Suite(.timeLimit(.minutes(5))) struct BookingTogetherTests {
    func together(_ f: BookingFixture, _ requests: [BookingRequest], _ event: Event,
                  pricing: PricingPolicy = .standard) async throws -> [Result<BookingOutcome, BookingError>] {
        try await together(f, requests, eventID: event.id, pricing: pricing)
    }

    func together(_ f: BookingFixture, _ requests: [BookingRequest], eventID: UUID,
                  pricing: PricingPolicy = .standard) async throws -> [Result<BookingOutcome, BookingError>] {
        try await f.tx { connection in
            try await f.bookings.bookTogether(requests, eventID: eventID, now: f.now, pricing: pricing, on: connection)
        }
    }

    @Test func aGroupAnswersEachRequestAsOneByOneWould() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 10, price: 10)
            let (a, b, c) = (try await f.user(), try await f.user(), try await f.user())
            let earlier = try await f.book(a, event, 2, key: "k1", hash: "h", pricing: .standard)
            let earlierOther = try await f.book(a, event, 1, key: "k0", hash: "h", pricing: .standard)
            let version = try await f.reload(event).version

            let results = try await together(f, [
                BookingRequest(userID: a.id, quantity: 2, idempotencyKey: "k1", requestHash: "h"),      // a retry
                BookingRequest(userID: b.id, quantity: 4, idempotencyKey: "k2", requestHash: "h"),      // seats 3-6
                BookingRequest(userID: b.id, quantity: 5, idempotencyKey: "k3", requestHash: "h"),      // 3 left
                BookingRequest(userID: c.id, quantity: 2, idempotencyKey: "k4", requestHash: "h"),      // seats 7-8
                BookingRequest(userID: c.id, quantity: 1, idempotencyKey: "k4", requestHash: "h"),      // same key again
                BookingRequest(userID: a.id, quantity: 1, idempotencyKey: "k0", requestHash: "other"),  // key reused
                BookingRequest(userID: a.id, quantity: 0, idempotencyKey: "k5", requestHash: "h"),
                BookingRequest(userID: a.id, quantity: 1, idempotencyKey: "k6", requestHash: "h"),      // seat 9
            ], event)

            #expect(try results[0].get() == BookingOutcome(booking: earlier.booking, isReplay: true, followUps: []))
            let second = try results[1].get().booking
            #expect(second.totalAmount == 45)                        // seats 3, 4 at 10; 5, 6 at 12.50
            #expect(results[2] == .failure(.soldOut(available: 3)))
            #expect(try results[3].get().booking.totalAmount == 27.5)  // seat 7 at 12.50, seat 8 at 15
            #expect(results[4] == .failure(.idempotencyKeyInFlight))
            #expect(results[5] == .failure(.idempotencyMismatch))
            #expect(results[6] == .failure(.invalidQuantity("ask for at least 1 seat, not 0")))
            let last = try results[7].get()
            #expect(last.booking.totalAmount == 15)
            #expect(last.followUps == [.notify(userID: a.id, template: .bookingConfirmed, eventID: event.id, bookingID: last.booking.id)])
            #expect(Set([second.reference, try results[3].get().booking.reference, last.booking.reference]).count == 3)
            _ = earlierOther

            let reloaded = try await f.reload(event)
            #expect(reloaded.availableSeats == 0)
            #expect(reloaded.version == version + 1, "one seat update for the group")
            #expect(try await f.confirmedSeats(event) == 10)
        }
    }

    /// Random groups against the same requests booked one by one on a twin event: the same
    /// answers and prices, request by request.
    @Test func randomGroupsMatchTheOneByOnePath() async throws {
        try await BookingFixture.with { f in
            var generator = SystemRandomNumberGenerator()
            for round in 0..<5 {
                let grouped = try await f.event(capacity: 40, price: 7)
                let single = try await f.event(capacity: 40, price: 7)
                let quantities = (0..<30).map { _ in Int.random(in: 1...4, using: &generator) }
                var requests: [BookingRequest] = []
                var twins: [(User, Int)] = []
                for quantity in quantities {
                    let (user, twin) = (try await f.user(), try await f.user())
                    requests.append(BookingRequest(userID: user.id, quantity: quantity, idempotencyKey: "r\(round)", requestHash: "h"))
                    twins.append((twin, quantity))
                }
                let results = try await together(f, requests, grouped)
                for (index, (twin, quantity)) in twins.enumerated() {
                    let expected: Result<Decimal, BookingError>
                    do { expected = .success(try await f.book(twin, single, quantity, key: "r\(round)", hash: "h", pricing: .standard).booking.totalAmount) }
                    catch let error as BookingError { expected = .failure(error) }
                    #expect(results[index].map(\.booking.totalAmount) == expected, "request \(index) of \(quantities)")
                }
                #expect(try await f.reload(grouped).availableSeats == f.reload(single).availableSeats)
            }
        }
    }

    @Test func aGroupThatCannotGoTogetherSaysSoAndWritesNothing() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 10)
            let user = try await f.user()
            await #expect(throws: BookingStore.GroupNeedsSingles.self) {
                try await together(f, [BookingRequest(userID: user.id, quantity: 1, idempotencyKey: "a"),
                                       BookingRequest(userID: UUID(), quantity: 1, idempotencyKey: "b")], event)
            }
            #expect(try await f.reload(event).availableSeats == 10)
            #expect(try await f.confirmedSeats(event) == 0)
        }
    }

    @Test func closedEventsRefuseTheWholeGroup() async throws {
        try await BookingFixture.with { f in
            let user = try await f.user()
            let started = try await f.event(capacity: 10, startsIn: -60)
            #expect(try await together(f, [BookingRequest(userID: user.id, quantity: 1)], started) == [.failure(.eventStarted)])
            #expect(try await together(f, [BookingRequest(userID: user.id, quantity: 1)], eventID: UUID()) == [.failure(.eventNotFound)])
        }
    }

    /// Requests of one key that arrive while its group runs wait and go together next; other
    /// keys do not wait; every request gets its own answer.
    @Test func theCombinerGroupsWhatArrivesWhileAGroupRuns() async throws {
        let groups = Mutex<[[Int]]>([])
        let release = AsyncStream<Void>.makeStream()
        let firstStarted = AsyncStream<Void>.makeStream()
        let combiner = GroupCombiner<String, Int, Int>(maximumGroup: 4) { key, requests in
            groups.withLock { $0.append(requests) }
            if requests == [0] {
                firstStarted.continuation.yield()
                for await _ in release.stream { break }
            }
            return requests.map { .success($0 * 10) }
        }
        try await withThrowingTaskGroup(of: (Int, Int).self) { tasks in
            tasks.addTask { (0, try await combiner.submit(0, key: "hot")) }
            for await _ in firstStarted.stream { break }
            for index in 1...6 {
                tasks.addTask { (index, try await combiner.submit(index, key: "hot")) }
            }
            // Another key runs at once, while "hot" is held.
            #expect(try await combiner.submit(100, key: "cold") == 1_000)
            let deadline = ContinuousClock.now + .seconds(30)
            while combiner.waitingCount(for: "hot") < 6 {
                try #require(ContinuousClock.now < deadline, "six requests waiting for the held group")
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(groups.withLock { $0 } == [[0], [100]], "nothing of the key ran while its group was held")
            release.continuation.yield()
            var answers: [Int: Int] = [:]
            for try await (index, answer) in tasks { answers[index] = answer }
            #expect(answers == Dictionary(uniqueKeysWithValues: (0...6).map { ($0, $0 * 10) }))
        }
        let hot = groups.withLock { $0.filter { !$0.contains(100) } }
        #expect(hot.first == [0])
        #expect(hot.dropFirst().map(\.count) == [4, 2], "the six that waited went in groups of up to four: \(hot)")
        #expect(Set(hot.flatMap { $0 }) == Set(0...6))
    }

    /// A group that failed because the database is unreachable answers everything queued behind
    /// it at once with the same error, instead of running group after group to its deadline;
    /// the next request tries again.
    @Test func anUnreachableDatabaseAnswersEveryoneWaitingAtOnce() async throws {
        struct Unreachable: Error, Equatable {}
        let groups = Mutex<[[Int]]>([])
        let release = AsyncStream<Void>.makeStream()
        let firstStarted = AsyncStream<Void>.makeStream()
        let combiner = GroupCombiner<String, Int, Int>(maximumGroup: 2, failsWaiting: { $0 is Unreachable }) { _, requests in
            groups.withLock { $0.append(requests) }
            if requests == [0] {
                firstStarted.continuation.yield()
                for await _ in release.stream { break }
            }
            return requests.map { $0 < 100 ? .failure(Unreachable()) : .success($0) }
        }
        try await withThrowingTaskGroup(of: Bool.self) { tasks in
            tasks.addTask { (try? await combiner.submit(0, key: "hot")) == nil }
            for await _ in firstStarted.stream { break }
            for index in 1...5 { tasks.addTask { (try? await combiner.submit(index, key: "hot")) == nil } }
            let deadline = ContinuousClock.now + .seconds(30)
            while combiner.waitingCount(for: "hot") < 5 {
                try #require(ContinuousClock.now < deadline, "five requests waiting for the held group")
                try await Task.sleep(for: .milliseconds(10))
            }
            release.continuation.yield()
            var failed = 0
            for try await didFail in tasks where didFail { failed += 1 }
            #expect(failed == 6)
        }
        #expect(groups.withLock { $0 } == [[0]], "only the first group ran; the five behind it were answered with its error")
        #expect(try await combiner.submit(100, key: "hot") == 100, "the next request runs again")
    }

    /// The group runs outside its leader's task: a leader whose request is cancelled (its client
    /// went away) does not cancel the bookings of the others in its group.
    @Test func aCancelledLeaderDoesNotCancelItsGroup() async throws {
        let release = AsyncStream<Void>.makeStream()
        let firstStarted = AsyncStream<Void>.makeStream()
        let combiner = GroupCombiner<String, Int, Bool>(maximumGroup: 8) { _, requests in
            firstStarted.continuation.yield()
            for await _ in release.stream { break }
            return requests.map { _ in .success(!Task.isCancelled) }
        }
        let leader = Task { try await combiner.submit(0, key: "k") }
        for await _ in firstStarted.stream { break }
        leader.cancel()
        release.continuation.yield()
        #expect(try await leader.value == true, "the group ran to its end, not cancelled with the leader")
    }
}
