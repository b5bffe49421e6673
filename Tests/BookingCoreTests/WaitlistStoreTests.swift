import BookingCore
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(5))) struct WaitlistStoreTests {
    /// An event of `capacity` seats, sold out to one holder whose booking is returned.
    static func fullEvent(_ f: BookingFixture, capacity: Int, mode: WaitlistMode = .offer,
                          split: [Int]? = nil) async throws -> (Event, [Booking]) {
        let event = try await f.event(capacity: capacity, mode: mode)
        let holder = try await f.user(name: "holder-\(UUID().uuidString.prefix(6))")
        var bookings: [Booking] = []
        for quantity in split ?? [capacity] { bookings.append(try await f.book(holder, event, quantity).booking) }
        return (event, bookings)
    }

    func join(_ f: BookingFixture, _ user: User, _ event: Event, _ quantity: Int, minute: Int, priority: Int = 0,
              channels: [NotificationChannel] = NotificationChannel.waitlistDefault, expiresAt: Date? = nil) async throws -> WaitlistEntry {
        try await f.tx {
            try await f.waitlist.join(userID: user.id, eventID: event.id, quantity: quantity, channels: channels,
                                      priorityScore: priority, expiresAt: expiresAt,
                                      now: f.now.addingTimeInterval(Double(minute) * 60), on: $0)
        }
    }

    func promote(_ f: BookingFixture, _ event: Event, at time: Date? = nil) async throws -> Outcome<[WaitlistEntry]> {
        try await f.tx {
            try await f.waitlist.promote(eventID: event.id, now: time ?? f.now, offerWindow: .seconds(600),
                                         pricing: .standard, on: $0)
        }
    }

    func cancel(_ f: BookingFixture, _ booking: Booking) async throws {
        _ = try await f.tx { try await f.bookings.cancel(bookingID: booking.id, by: booking.userID, now: f.now, on: $0) }
    }

    @Test func joiningNeedsAFullEventAndPositionsFollowPriorityThenJoinTime() async throws {
        try await BookingFixture.with { f in
            let open = try await f.event(capacity: 5)
            let ann = try await f.user(name: "ann")
            await #expect(throws: BookingError.eventNotFull(available: 5)) { try await join(f, ann, open, 2, minute: 0) }

            let (event, _) = try await Self.fullEvent(f, capacity: 5)
            let bob = try await f.user(name: "bob")
            let cat = try await f.user(name: "cat")
            let dan = try await f.user(name: "dan")
            let a = try await join(f, ann, event, 2, minute: 1)
            #expect(a.position == 1)
            #expect(a.status == .waiting)
            #expect(a.channels == [.email, .inApp])
            let b = try await join(f, bob, event, 1, minute: 2, channels: [.sms, .sms, .email])
            #expect(b.position == 2)
            #expect(b.channels == [.sms, .email])
            // A higher priority score goes ahead of earlier joiners.
            let c = try await join(f, cat, event, 3, minute: 3, priority: 10)
            #expect(c.position == 1)
            let d = try await join(f, dan, event, 1, minute: 4)
            #expect(d.position == 4)

            await #expect(throws: BookingError.alreadyOnWaitlist) { try await join(f, ann, event, 1, minute: 5) }
            await #expect(throws: BookingError.invalidQuantity("ask for at least 1 seat, not 0")) {
                try await join(f, dan, event, 0, minute: 5)
            }
            await #expect(throws: BookingError.invalidInput(field: "channels", reason: "name at least one channel")) {
                try await join(f, dan, event, 1, minute: 5, channels: [])
            }

            let line = try await f.tx { try await f.waitlist.line(eventID: event.id, on: $0) }
            #expect(line.map(\.userID) == [cat.id, ann.id, bob.id, dan.id])
            #expect(line.map(\.position) == [1, 2, 3, 4])
            let mine = try await f.tx { try await f.waitlist.entry(userID: bob.id, eventID: event.id, on: $0) }
            #expect(mine.position == 3)

            // Leaving moves everyone behind up; position is computed on read.
            let left = try await f.tx { try await f.waitlist.leave(userID: ann.id, eventID: event.id, now: f.now, on: $0) }
            #expect(left.value.status == .left)
            #expect(left.followUps.isEmpty)
            #expect(try await f.tx { try await f.waitlist.entry(userID: bob.id, eventID: event.id, on: $0) }.position == 2)
            await #expect(throws: BookingError.notOnWaitlist) {
                try await f.tx { try await f.waitlist.entry(userID: ann.id, eventID: event.id, on: $0) }
            }
            await #expect(throws: BookingError.notOnWaitlist) {
                try await f.tx { try await f.waitlist.leave(userID: ann.id, eventID: event.id, now: f.now, on: $0) }
            }
            // Having left, one may join again (at the back).
            #expect(try await join(f, ann, event, 2, minute: 9).position == 4)
        }
    }

    @Test func promotionOffersExactlyTheFreedSeatsInOrder() async throws {
        try await BookingFixture.with { f in
            let (event, bookings) = try await Self.fullEvent(f, capacity: 10, split: [4, 6])
            let ann = try await f.user(name: "ann"), bob = try await f.user(name: "bob")
            let cat = try await f.user(name: "cat"), dan = try await f.user(name: "dan")
            let a = try await join(f, ann, event, 3, minute: 1)
            _ = try await join(f, bob, event, 5, minute: 2)
            _ = try await join(f, cat, event, 2, minute: 3)
            let d = try await join(f, dan, event, 1, minute: 4, channels: [.push])

            try await cancel(f, bookings[0])    // frees 4
            let outcome = try await promote(f, event)
            // ann (3) fits, bob (5) does not, cat (2) no longer does, dan (1) takes the last seat.
            #expect(outcome.value.map(\.id) == [a.id, d.id])
            #expect(outcome.value.allSatisfy { $0.status == .offered })
            #expect(outcome.value.map(\.offeredSeats) == [3, 1])
            #expect(outcome.value.allSatisfy { $0.offerExpiresAt == f.now.addingTimeInterval(600) })
            // Seats 6..8 (taken before: 6) at the standard tiers of 10 seats: 6 → 1.25, 7 → 1.25, 8 → 1.5.
            #expect(outcome.value[0].offeredAmount == Decimal(string: "40"))
            #expect(outcome.value[1].offeredAmount == 15)
            #expect(outcome.followUps == [
                .notify(userID: ann.id, template: .waitlistOffer, eventID: event.id, waitlistEntryID: a.id, channels: [.email, .inApp]),
                .notify(userID: dan.id, template: .waitlistOffer, eventID: event.id, waitlistEntryID: d.id, channels: [.push]),
            ])
            #expect(try await f.reload(event).availableSeats == 0)

            // Nothing is free any more: a second promotion offers nothing, and nobody twice.
            let again = try await promote(f, event)
            #expect(again.value.isEmpty)
            #expect(again.followUps.isEmpty)
            let line = try await f.tx { try await f.waitlist.line(eventID: event.id, on: $0) }
            #expect(line.map(\.userID) == [bob.id, cat.id])
        }
    }

    @Test func concurrentPromotionsNeverOfferTheSameSeatsTwice() async throws {
        try await BookingFixture.with(maximumConnections: 20) { f in
            let (event, bookings) = try await Self.fullEvent(f, capacity: 30, split: [10, 10, 10])
            var entries: [WaitlistEntry] = []
            for index in 0..<20 {
                entries.append(try await join(f, try await f.user(name: "w\(index)"), event, index % 3 + 1, minute: index))
            }
            try await cancel(f, bookings[0])
            try await cancel(f, bookings[1])    // 20 seats free

            let outcomes = try await withThrowingTaskGroup(of: Outcome<[WaitlistEntry]>.self,
                                                           returning: [Outcome<[WaitlistEntry]>].self) { group in
                for _ in 0..<4 { group.addTask { try await promote(f, event) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let offered = outcomes.flatMap(\.value)
            #expect(Set(offered.map(\.id)).count == offered.count)
            #expect(offered.reduce(0) { $0 + ($1.offeredSeats ?? 0) } == 20)
            // The one that ran first served the line; the others found no seats.
            #expect(outcomes.filter { !$0.value.isEmpty }.count == 1)
            // In line order: quantities 1,2,3,1,2,3,... fit exactly the first entries.
            let expected = WaitlistPromotion.pick(quantities: entries.map(\.quantity), freeSeats: 20).map { entries[$0].id }
            #expect(offered.map(\.id) == expected)
            #expect(try await f.reload(event).availableSeats == 0)
            #expect(try await f.scalar(Int.self,
                "SELECT coalesce(sum(offered_seats), 0)::int FROM evently.waitlist WHERE status = 'offered'") == 20)
        }
    }

    @Test func acceptingBooksTheHeldSeatsWithoutTakingMore() async throws {
        try await BookingFixture.with { f in
            let (event, bookings) = try await Self.fullEvent(f, capacity: 4, split: [2, 2])
            let ann = try await f.user(name: "ann")
            let bob = try await f.user(name: "bob")
            let a = try await join(f, ann, event, 2, minute: 1, channels: [.sms])
            try await cancel(f, bookings[1])
            let offer = try await promote(f, event).value[0]
            let before = try await f.reload(event)
            #expect(before.availableSeats == 0)

            await #expect(throws: BookingError.offerNotFound) {
                try await f.tx { try await f.waitlist.acceptOffer(entryID: a.id, userID: bob.id, now: f.now, on: $0) }
            }
            let accepted = try await f.tx {
                try await f.waitlist.acceptOffer(entryID: a.id, userID: ann.id, now: f.now.addingTimeInterval(60), on: $0)
            }
            #expect(accepted.value.userID == ann.id)
            #expect(accepted.value.quantity == 2)
            #expect(accepted.value.status == .confirmed)
            #expect(accepted.value.totalAmount == offer.offeredAmount)
            #expect(accepted.followUps == [
                .notify(userID: ann.id, template: .bookingConfirmed, eventID: event.id, bookingID: accepted.value.id,
                        waitlistEntryID: a.id, channels: [.sms]),
            ])
            let after = try await f.reload(event)
            #expect(after.availableSeats == 0)
            #expect(after.version == before.version)
            #expect(try await f.confirmedSeats(event) == 4)
            #expect(try await f.scalar(String.self, "SELECT status FROM evently.waitlist WHERE id = \(a.id)") == "booked")

            await #expect(throws: BookingError.offerNotFound) {
                try await f.tx { try await f.waitlist.acceptOffer(entryID: a.id, userID: ann.id, now: f.now, on: $0) }
            }
        }
    }

    @Test func lapsedOffersPassTheSeatsToTheNextInLine() async throws {
        try await BookingFixture.with { f in
            let (event, bookings) = try await Self.fullEvent(f, capacity: 6, split: [2, 4])
            let ann = try await f.user(name: "ann")
            let bob = try await f.user(name: "bob")
            let a = try await join(f, ann, event, 2, minute: 1)
            let b = try await join(f, bob, event, 2, minute: 2)
            try await cancel(f, bookings[0])
            #expect(try await promote(f, event).value.map(\.id) == [a.id])

            // Before the window closes nothing lapses.
            let early = try await f.tx { try await f.waitlist.lapseExpiredOffers(now: f.now.addingTimeInterval(599), on: $0) }
            #expect(early.value.isEmpty)
            #expect(early.followUps.isEmpty)

            let late = f.now.addingTimeInterval(601)
            // Past the window the offer cannot be accepted, even before the sweep ran.
            await #expect(throws: BookingError.offerExpired) {
                try await f.tx { try await f.waitlist.acceptOffer(entryID: a.id, userID: ann.id, now: late, on: $0) }
            }
            let lapsed = try await f.tx { try await f.waitlist.lapseExpiredOffers(now: late, on: $0) }
            #expect(lapsed.value.map(\.id) == [a.id])
            #expect(lapsed.value[0].status == .lapsed)
            #expect(lapsed.followUps == [
                .notify(userID: ann.id, template: .offerLapsed, eventID: event.id, waitlistEntryID: a.id, channels: [.email, .inApp]),
                .promoteWaitlist(eventID: event.id),
            ])
            #expect(try await f.reload(event).availableSeats == 2)
            await #expect(throws: BookingError.offerExpired) {
                try await f.tx { try await f.waitlist.acceptOffer(entryID: a.id, userID: ann.id, now: late, on: $0) }
            }

            // The follow-up promotion offers the released seats to bob.
            let next = try await promote(f, event, at: late)
            #expect(next.value.map(\.id) == [b.id])
            #expect(try await f.reload(event).availableSeats == 0)
            // A second sweep finds nothing new.
            #expect(try await f.tx { try await f.waitlist.lapseExpiredOffers(now: late, on: $0) }.value.isEmpty)
        }
    }

    @Test func leavingWithAnOfferGivesTheSeatsBack() async throws {
        try await BookingFixture.with { f in
            let (event, bookings) = try await Self.fullEvent(f, capacity: 3, split: [1, 2])
            let ann = try await f.user(name: "ann")
            _ = try await join(f, ann, event, 1, minute: 1)
            try await cancel(f, bookings[0])
            _ = try await promote(f, event)
            #expect(try await f.reload(event).availableSeats == 0)
            let left = try await f.tx { try await f.waitlist.leave(userID: ann.id, eventID: event.id, now: f.now, on: $0) }
            #expect(left.value.status == .left)
            #expect(left.followUps == [.promoteWaitlist(eventID: event.id)])
            #expect(try await f.reload(event).availableSeats == 1)
        }
    }

    @Test func autoBookModeBooksDirectly() async throws {
        try await BookingFixture.with { f in
            let (event, bookings) = try await Self.fullEvent(f, capacity: 5, mode: .autoBook, split: [3, 2])
            let ann = try await f.user(name: "ann")
            let bob = try await f.user(name: "bob")
            let a = try await join(f, ann, event, 2, minute: 1)
            let b = try await join(f, bob, event, 1, minute: 2)
            try await cancel(f, bookings[0])    // frees 3

            let outcome = try await promote(f, event)
            #expect(outcome.value.map(\.id) == [a.id, b.id])
            #expect(outcome.value.allSatisfy { $0.status == .booked && $0.bookingID != nil })
            #expect(outcome.followUps == outcome.value.map {
                .notify(userID: $0.userID, template: .waitlistBooked, eventID: event.id, bookingID: $0.bookingID,
                        waitlistEntryID: $0.id, channels: [.email, .inApp])
            })
            #expect(try await f.reload(event).availableSeats == 0)
            #expect(try await f.confirmedSeats(event) == 5)
            let annBookings = try await f.tx { try await f.bookings.list(userID: ann.id, on: $0) }
            #expect(annBookings.map(\.id) == [outcome.value[0].bookingID])
            #expect(annBookings[0].quantity == 2)
            #expect(annBookings[0].reference.hasPrefix("EVT"))
            // Seats 2 and 3 of 5 at base 10: 2/5 → ×1, 3/5 → ×1.25.
            #expect(annBookings[0].totalAmount == Decimal(string: "22.5"))
        }
    }

    @Test func expiredEntriesAreClosedAndSkipped() async throws {
        try await BookingFixture.with { f in
            let (event, bookings) = try await Self.fullEvent(f, capacity: 2, split: [1, 1])
            let ann = try await f.user(name: "ann")
            let bob = try await f.user(name: "bob")
            let a = try await join(f, ann, event, 1, minute: 1, expiresAt: f.now.addingTimeInterval(3600))
            let b = try await join(f, bob, event, 1, minute: 2)
            await #expect(throws: BookingError.invalidInput(field: "expires_at", reason: "must be in the future")) {
                try await join(f, try await f.user(), event, 1, minute: 3, expiresAt: f.now)
            }

            // Past ann's own expiry, promotion passes her over even before the cleanup ran.
            try await cancel(f, bookings[0])
            let later = f.now.addingTimeInterval(7200)
            #expect(try await promote(f, event, at: later).value.map(\.id) == [b.id])

            let expired = try await f.tx { try await f.waitlist.expireEntries(now: later, on: $0) }
            #expect(expired.value.map(\.id) == [a.id])
            #expect(expired.value[0].status == .expired)
            #expect(try await f.tx { try await f.waitlist.expireEntries(now: later, on: $0) }.value.isEmpty)
        }
    }
}
