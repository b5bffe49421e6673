import BookingCore
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(5))) struct AnalyticsQueriesTests {
    @Test func figuresOverASmallFixedDataSet() async throws {
        try await BookingFixture.with { f in
            // f.now is 2030-03-17T17:46:40Z; the three days are 17, 18, 19 March (UTC).
            let day1 = f.now
            let day2 = f.now.addingTimeInterval(86_400)
            let admin = try await f.user(.admin)
            let rock = try await f.event(capacity: 10, price: 10, name: "Rock", by: admin)
            let jazz = try await f.event(capacity: 4, price: 25, startsIn: 40 * 86_400, name: "Jazz", by: admin)
            let folk = try await f.event(capacity: 100, price: 5, startsIn: 50 * 86_400, name: "Folk", by: admin)
            let ann = try await f.user(name: "ann")
            let bob = try await f.user(name: "bob")

            let cancelled = try await f.book(ann, rock, 2, at: day1).booking   // 20, cancelled later
            _ = try await f.book(bob, rock, 3, at: day1)                          // 30
            _ = try await f.book(ann, jazz, 4, at: day2)                          // 100, sells jazz out
            _ = try await f.book(bob, folk, 1, at: day2)                          // 5
            _ = try await f.tx { try await f.bookings.cancel(bookingID: cancelled.id, by: ann.id, now: day2, on: $0) }
            let cat = try await f.user(name: "cat")
            _ = try await f.tx { try await f.waitlist.join(userID: cat.id, eventID: jazz.id, quantity: 2, now: day2, on: $0) }
            _ = try await f.tx { try await f.waitlist.join(userID: bob.id, eventID: jazz.id, quantity: 1, now: day2, on: $0) }

            let from = Calendar(identifier: .gregorian).startOfDay(for: day1, in: .gmt)
            let to = from.addingTimeInterval(3 * 86_400)
            let days = try await f.tx { try await f.analytics.bookingsPerDay(from: from, to: to, on: $0) }
            #expect(days == [
                DailyBookings(day: "2030-03-17", bookings: 2, seats: 5, cancelled: 1, revenue: 30),
                DailyBookings(day: "2030-03-18", bookings: 2, seats: 5, cancelled: 0, revenue: 105),
                DailyBookings(day: "2030-03-19", bookings: 0, seats: 0, cancelled: 0, revenue: 0),
            ])

            let rate = try await f.tx { try await f.analytics.cancellationRate(from: from, to: to, on: $0) }
            #expect(rate == CancellationRate(bookings: 4, cancelled: 1))
            #expect(rate.rate == 0.25)

            let utilisation = try await f.tx { try await f.analytics.capacityUtilisation(on: $0) }
            #expect(utilisation.map(\.name) == ["Rock", "Jazz", "Folk"])
            #expect(utilisation.map(\.bookedSeats) == [3, 4, 1])
            #expect(utilisation.map(\.availableSeats) == [7, 0, 99])
            #expect(utilisation.map(\.utilisation) == [0.3, 1.0, 0.01])

            let top = try await f.tx { try await f.analytics.mostBookedEvents(limit: 2, on: $0) }
            #expect(top == [
                EventBookings(eventID: jazz.id, name: "Jazz", bookings: 1, seats: 4, revenue: 100),
                EventBookings(eventID: rock.id, name: "Rock", bookings: 1, seats: 3, revenue: 30),
            ])
            let onDay2 = try await f.tx { try await f.analytics.mostBookedEvents(from: day2, to: to, on: $0) }
            #expect(onDay2.map(\.name) == ["Jazz", "Folk"])

            let waitlists = try await f.tx { try await f.analytics.waitlistLengths(on: $0) }
            #expect(waitlists == [WaitlistLength(eventID: jazz.id, name: "Jazz", waiting: 2, offered: 0, seatsRequested: 3)])
        }
    }
}

extension Calendar {
    func startOfDay(for date: Date, in zone: TimeZone) -> Date {
        var calendar = self
        calendar.timeZone = zone
        return calendar.startOfDay(for: date)
    }
}
