import BookingCore
import Foundation
import PostgresNIO
import Testing

@Suite struct BookingStoreTests {
    // MARK: Booking rules

    @Test func bookingFixesTheDynamicPriceAndYieldsAConfirmation() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 10, price: 10)
            let user = try await f.user()
            #expect(PricingPolicy.standard.quote(event) == 10)

            let first = try await f.book(user, event, 4, pricing: .standard)
            #expect(first.booking.totalAmount == 40)                 // seats 0-3: base price
            #expect(first.booking.status == .confirmed)
            #expect(first.booking.quantity == 4)
            #expect(!first.isReplay)
            #expect(first.followUps == [.notify(userID: user.id, template: .bookingConfirmed, eventID: event.id,
                                                bookingID: first.booking.id)])
            let second = try await f.book(user, event, 4, pricing: .standard)
            #expect(second.booking.totalAmount == Decimal(string: "47.5"))   // seat 4 at 10, seats 5-7 at 12.50
            #expect(PricingPolicy.standard.quote(try await f.reload(event)) == 15)
            let third = try await f.book(user, event, 2, pricing: .standard)
            #expect(third.booking.totalAmount == 30)                 // seats 8-9 at 15
            #expect(try await f.scalar(String.self,
                "SELECT total_amount::text FROM evently.bookings WHERE id = \(second.booking.id)") == "47.50")

            let reloaded = try await f.reload(event)
            #expect(reloaded.availableSeats == 0)
            #expect(reloaded.version == event.version + 3)
        }
    }

    @Test func refusalsNameTheReason() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 5)
            let user = try await f.user()
            _ = try await f.book(user, event, 3)

            await #expect(throws: BookingError.soldOut(available: 2)) { try await f.book(user, event, 3) }
            await #expect(throws: BookingError.invalidQuantity("ask for at least 1 seat, not 0")) { try await f.book(user, event, 0) }
            await #expect(throws: BookingError.eventNotFound) {
                try await f.tx { connection in
                    try await f.bookings.book(userID: user.id, eventID: UUID(), quantity: 1, now: f.now, pricing: .flat, on: connection)
                }
            }
            await #expect(throws: BookingError.eventStarted) {
                try await f.book(user, event, 1, at: event.startsAt.addingTimeInterval(1))
            }
            await #expect(throws: BookingError.userNotFound) {
                try await f.tx { connection in
                    try await f.bookings.book(userID: UUID(), eventID: event.id, quantity: 1, now: f.now, pricing: .flat, on: connection)
                }
            }
            // Refused bookings took nothing.
            #expect(try await f.reload(event).availableSeats == 2)

            _ = try await f.tx { try await f.events.cancel(id: event.id, now: f.now, on: $0) }
            await #expect(throws: BookingError.eventNotActive(.cancelled)) { try await f.book(user, event, 1) }
        }
    }

    @Test func cancellationReturnsSeatsForOwnerOrAdminOnly() async throws {
        try await BookingFixture.with { f in
            let admin = try await f.user(.admin)
            let event = try await f.event(capacity: 10, by: admin)
            let owner = try await f.user()
            let stranger = try await f.user()
            let booking = try await f.book(owner, event, 3).booking
            let other = try await f.book(owner, event, 2).booking
            #expect(try await f.reload(event).availableSeats == 5)

            // Someone else's booking does not exist for them.
            await #expect(throws: BookingError.bookingNotFound) {
                try await f.tx { try await f.bookings.cancel(bookingID: booking.id, by: stranger.id, now: f.now, on: $0) }
            }
            await #expect(throws: BookingError.bookingNotFound) {
                try await f.tx { try await f.bookings.get(id: booking.id, for: stranger.id, on: $0) }
            }

            let later = f.now.addingTimeInterval(60)
            let outcome = try await f.tx { try await f.bookings.cancel(bookingID: booking.id, by: owner.id, now: later, on: $0) }
            #expect(outcome.value.status == .cancelled)
            #expect(outcome.value.cancelledAt == later)
            #expect(outcome.value.version == booking.version + 1)
            #expect(outcome.followUps == [
                .notify(userID: owner.id, template: .bookingCancelled, eventID: event.id, bookingID: booking.id),
                .promoteWaitlist(eventID: event.id),
            ])
            #expect(try await f.reload(event).availableSeats == 8)

            await #expect(throws: BookingError.alreadyCancelled) {
                try await f.tx { try await f.bookings.cancel(bookingID: booking.id, by: owner.id, now: later, on: $0) }
            }
            #expect(try await f.reload(event).availableSeats == 8)

            // An admin may cancel anyone's booking and read it.
            #expect(try await f.tx { try await f.bookings.get(id: other.id, for: admin.id, on: $0) }.id == other.id)
            _ = try await f.tx { try await f.bookings.cancel(bookingID: other.id, by: admin.id, now: later, on: $0) }
            #expect(try await f.reload(event).availableSeats == 10)
        }
    }

    @Test func listsOwnBookingsNewestFirst() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 10)
            let user = try await f.user()
            let other = try await f.user()
            let first = try await f.book(user, event, 1, at: f.now).booking
            let second = try await f.book(user, event, 1, at: f.now.addingTimeInterval(10)).booking
            _ = try await f.book(other, event, 1)
            let listed = try await f.tx { try await f.bookings.list(userID: user.id, on: $0) }
            #expect(listed.map(\.id) == [second.id, first.id])
            let page = try await f.tx { try await f.bookings.list(userID: user.id, before: second.createdAt, on: $0) }
            #expect(page.map(\.id) == [first.id])
        }
    }
}
