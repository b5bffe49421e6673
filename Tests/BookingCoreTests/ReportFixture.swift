import BookingCore
import Foundation

/// The reported day and its bookings, shared by the tests of `ReportStore` and `Report`.
enum ReportFixture {
    static let reports = ReportStore(logger: BookingFixture.logger)

    /// f.now is 2030-03-17T17:46:40Z; the reported day is 17 March (UTC).
    struct Day {
        let start: Date
        let before: Date
        let during: Date
        let after: Date

        init(_ f: BookingFixture) {
            start = ReportPeriod.daily.start(containing: f.now)
            before = start.addingTimeInterval(-3_600)
            during = f.now
            after = start.addingTimeInterval(86_400 + 60)
        }
    }

    /// Rock: made in the day bob 3 (confirmed), cat 1 (cancelled that day), eve 1 (cancelled the
    /// next day); ann 2 made the day before and cancelled in it. Jazz: ann 4 (sold out) and dan
    /// waiting. Folk: only a booking the next day, so no line.
    static func seed(_ f: BookingFixture, _ day: Day) async throws -> (rock: Event, jazz: Event, folk: Event) {
        let admin = try await f.user(.admin)
        let rock = try await f.event(capacity: 10, price: 10, name: "Rock, \"live\"", by: admin)
        let jazz = try await f.event(capacity: 4, price: 25, startsIn: 40 * 86_400, name: "Jazz", by: admin)
        let folk = try await f.event(capacity: 100, price: 5, startsIn: 50 * 86_400, name: "Folk", by: admin)
        let (ann, bob, cat, dan, eve) = (try await f.user(name: "ann"), try await f.user(name: "bob"), try await f.user(name: "cat"),
                                         try await f.user(name: "dan"), try await f.user(name: "eve"))
        let annRock = try await f.book(ann, rock, 2, at: day.before).booking
        _ = try await f.book(bob, rock, 3, at: day.during)
        let catRock = try await f.book(cat, rock, 1, at: day.during).booking
        let eveRock = try await f.book(eve, rock, 1, at: day.during).booking
        _ = try await f.book(ann, jazz, 4, at: day.during)
        _ = try await f.book(bob, folk, 1, at: day.after)
        _ = try await f.tx { try await f.bookings.cancel(bookingID: annRock.id, by: ann.id, now: day.during, on: $0) }
        _ = try await f.tx { try await f.bookings.cancel(bookingID: catRock.id, by: cat.id, now: day.during, on: $0) }
        _ = try await f.tx { try await f.bookings.cancel(bookingID: eveRock.id, by: eve.id, now: day.after, on: $0) }
        _ = try await f.tx { try await f.waitlist.join(userID: dan.id, eventID: jazz.id, quantity: 2, now: day.during, on: $0) }
        return (rock, jazz, folk)
    }
}
