import BookingCore
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(5))) struct EventStoreTests {
    @Test func creationValidatesAndRequiresAnAdmin() async throws {
        try await BookingFixture.with { f in
            let admin = try await f.user(.admin)
            let user = try await f.user()
            func create(_ new: NewEvent, by creator: User) async throws -> Event {
                try await f.tx { try await f.events.create(new, by: creator.id, now: f.now, on: $0) }
            }
            let starts = f.now.addingTimeInterval(86_400)
            let good = NewEvent(name: "Jazz", venue: "Hall", startsAt: starts, capacity: 50, basePrice: Decimal(string: "19.99")!)

            let event = try await create(good, by: admin)
            #expect(event.availableSeats == 50)
            #expect(event.totalCapacity == 50)
            #expect(event.basePrice == Decimal(string: "19.99"))
            #expect(event.status == .active)
            #expect(event.waitlistMode == .offer)
            #expect(event.version == 1)
            #expect(event.createdBy == admin.id)
            #expect(try await f.reload(event) == event)

            await #expect(throws: BookingError.adminRequired) { try await create(good, by: user) }
            var bad = good; bad.name = "  "
            await #expect(throws: BookingError.invalidInput(field: "name", reason: "must not be empty")) { try await create(bad, by: admin) }
            bad = good; bad.capacity = 0
            await #expect(throws: BookingError.invalidInput(field: "capacity", reason: "must be at least 1")) { try await create(bad, by: admin) }
            bad = good; bad.basePrice = -1
            await #expect(throws: BookingError.invalidInput(field: "price", reason: "must not be negative")) { try await create(bad, by: admin) }
            bad = good; bad.basePrice = Decimal(string: "1.005")!
            await #expect(throws: BookingError.invalidInput(field: "price", reason: "must have at most two decimal places")) {
                try await create(bad, by: admin)
            }
            await #expect(throws: BookingError.eventNotFound) { try await f.tx { try await f.events.get(id: UUID(), on: $0) } }
        }
    }

    @Test func listShowsActiveEventsFirstByStartTime() async throws {
        try await BookingFixture.with { f in
            let admin = try await f.user(.admin)
            let late = try await f.event(capacity: 5, startsIn: 3 * 86_400, name: "late", by: admin)
            let early = try await f.event(capacity: 5, startsIn: 1 * 86_400, name: "early", by: admin)
            let cancelledEarliest = try await f.event(capacity: 5, startsIn: 3600, name: "gone", by: admin)
            let middle = try await f.event(capacity: 5, startsIn: 2 * 86_400, name: "middle", by: admin)
            _ = try await f.tx { try await f.events.cancel(id: cancelledEarliest.id, now: f.now, on: $0) }

            let all = try await f.tx { try await f.events.list(on: $0) }
            #expect(all.map(\.name) == ["early", "middle", "late", "gone"])
            let active = try await f.tx { try await f.events.list(status: .active, on: $0) }
            #expect(active.map(\.id) == [early.id, middle.id, late.id])
            let page = try await f.tx { try await f.events.list(limit: 2, offset: 1, on: $0) }
            #expect(page.map(\.name) == ["middle", "late"])
        }
    }

    @Test func updatesAreGuardedByVersion() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 10, price: 10)
            func update(_ version: Int, _ changes: EventChanges) async throws -> Event {
                try await f.tx { try await f.events.update(id: event.id, expectedVersion: version, changes: changes, now: f.now, on: $0) }
            }

            let renamed = try await update(1, EventChanges(name: "Renamed", basePrice: 12))
            #expect(renamed.name == "Renamed")
            #expect(renamed.basePrice == 12)
            #expect(renamed.venue == event.venue)
            #expect(renamed.version == 2)

            // A stale If-Match loses, and says which version to re-read.
            await #expect(throws: BookingError.versionConflict(current: 2)) { try await update(1, EventChanges(name: "Stale")) }
            // A booking changes the version too, so an edit based on the older read conflicts.
            _ = try await f.book(try await f.user(), event, 3)
            await #expect(throws: BookingError.versionConflict(current: 3)) { try await update(2, EventChanges(venue: "Other")) }

            // Capacity moves the free seats with it, and cannot drop below what is taken.
            let bigger = try await update(3, EventChanges(capacity: 20, waitlistMode: .autoBook))
            #expect(bigger.totalCapacity == 20)
            #expect(bigger.availableSeats == 17)
            #expect(bigger.waitlistMode == .autoBook)
            await #expect(throws: BookingError.capacityBelowSold(sold: 3)) { try await update(4, EventChanges(capacity: 2)) }
            let exact = try await update(4, EventChanges(capacity: 3))
            #expect(exact.availableSeats == 0)

            await #expect(throws: BookingError.invalidInput(field: "capacity", reason: "must be at least 1")) {
                try await update(5, EventChanges(capacity: 0))
            }
            await #expect(throws: BookingError.eventNotFound) {
                try await f.tx { try await f.events.update(id: UUID(), expectedVersion: 1, changes: EventChanges(name: "x"), now: f.now, on: $0) }
            }
            _ = try await f.tx { try await f.events.cancel(id: event.id, now: f.now, on: $0) }
            await #expect(throws: BookingError.eventNotActive(.cancelled)) { try await update(6, EventChanges(name: "After")) }
        }
    }

    @Test func cancellationCancelsEveryBookingAndNotifiesEveryHolderOnce() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 10)
            let ann = try await f.user(name: "ann")
            let bob = try await f.user(name: "bob")
            let cat = try await f.user(name: "cat")
            let dan = try await f.user(name: "dan")
            let eve = try await f.user(name: "eve")
            let annBooking = try await f.book(ann, event, 3).booking
            _ = try await f.book(bob, event, 2)
            _ = try await f.book(bob, event, 1)
            let catBooking = try await f.book(cat, event, 4).booking
            // Full: dan waits; cat cancels, so dan is offered 4 seats (held), eve waits behind.
            _ = try await f.tx { try await f.waitlist.join(userID: dan.id, eventID: event.id, quantity: 4, now: f.now, on: $0) }
            _ = try await f.tx {
                try await f.waitlist.join(userID: eve.id, eventID: event.id, quantity: 2, channels: [.sms],
                                          now: f.now.addingTimeInterval(1), on: $0)
            }
            _ = try await f.tx { try await f.bookings.cancel(bookingID: catBooking.id, by: cat.id, now: f.now, on: $0) }
            let offered = try await f.tx {
                try await f.waitlist.promote(eventID: event.id, now: f.now, offerWindow: .seconds(900), pricing: .flat, on: $0)
            }
            #expect(offered.value.map(\.userID) == [dan.id])
            #expect(try await f.reload(event).availableSeats == 0)

            let outcome = try await f.tx { try await f.events.cancel(id: event.id, now: f.now, on: $0) }
            #expect(outcome.value.status == .cancelled)
            #expect(outcome.value.availableSeats == 10)
            let notices = outcome.followUps.compactMap(\.notice)
            #expect(notices.count == outcome.followUps.count)
            #expect(notices.allSatisfy { $0.template == .eventCancelled && $0.eventID == event.id })
            // One per affected user: holders (bob holds two bookings, so no single booking id) and the waitlist.
            #expect(Set(notices.map(\.userID)) == [ann.id, bob.id, dan.id, eve.id])
            #expect(notices.count == 4)
            #expect(notices.first { $0.userID == ann.id }?.bookingID == annBooking.id)
            #expect(notices.first { $0.userID == bob.id }?.bookingID == nil)
            #expect(notices.first { $0.userID == eve.id }?.channels == [.sms])

            #expect(try await f.confirmedSeats(event) == 0)
            #expect(try await f.scalar(Int.self,
                "SELECT count(*)::int FROM evently.waitlist WHERE event_id = \(event.id) AND status <> 'cancelled'") == 0)
            await #expect(throws: BookingError.eventNotActive(.cancelled)) {
                try await f.tx { try await f.events.cancel(id: event.id, now: f.now, on: $0) }
            }
        }
    }
}
