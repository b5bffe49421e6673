import BookingCore
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(5))) struct NotificationStoreTests {
    /// Reading an email or SMS row in the inbox must not stop its delivery (a `read` status
    /// used to make the sender skip it) nor undo a `delivered`.
    @Test func markingAnEmailRowReadKeepsItsDeliveryState() async throws {
        try await BookingFixture.with { f in
            let user = try await f.user()
            func row(_ type: NotificationChannel) async throws -> UserNotification {
                try await f.tx {
                    try await f.notifications.create(userID: user.id, type: type, template: "reminder", content: [:],
                                                     channels: [.email, .inApp], now: f.now, on: $0).notification
                }
            }
            let email = try await row(.email), inApp = try await row(.inApp)
            let readEmail = try await f.tx { try await f.notifications.markRead(id: email.id, userID: user.id, now: f.now, on: $0) }
            #expect(readEmail.status == .queued)
            #expect(readEmail.readAt == f.now)
            let readInApp = try await f.tx { try await f.notifications.markRead(id: inApp.id, userID: user.id, now: f.now, on: $0) }
            #expect(readInApp.status == .read)
        }
    }

    @Test func aDedupeKeyMakesOneRowEvenUnderConcurrency() async throws {
        try await BookingFixture.with { f in
            let user = try await f.user()
            let created = try await withThrowingTaskGroup(of: Bool.self, returning: [Bool].self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        try await f.tx {
                            try await f.notifications.create(
                                userID: user.id, type: .email, template: "booking_confirmed", content: ["subject": "Hi"],
                                channels: [.email, .inApp], dedupeKey: "job-7:email", now: f.now, on: $0
                            ).created
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(created.filter { $0 }.count == 1)
            #expect(try await f.scalar(Int.self, "SELECT count(*)::int FROM evently.notifications") == 1)

            // Without a key every call is a new row.
            for _ in 0..<2 {
                _ = try await f.tx {
                    try await f.notifications.create(userID: user.id, type: .inApp, template: "reminder", content: [:],
                                                     channels: [.inApp], now: f.now, on: $0)
                }
            }
            #expect(try await f.scalar(Int.self, "SELECT count(*)::int FROM evently.notifications") == 3)
        }
    }

    @Test func noticesRenderFromTheirTemplateAndFacts() async throws {
        try await BookingFixture.with { f in
            let event = try await f.event(capacity: 5, price: 12, name: "Jazz Night")
            let user = try await f.user()
            let outcome = try await f.book(user, event, 2)
            let notice = try #require(outcome.followUps.first?.notice)
            let (row, created) = try await f.tx {
                try await f.notifications.create(from: notice, type: .email, dedupeKey: "job-1:email", now: f.now, on: $0)
            }
            #expect(created)
            #expect(row.template == "booking_confirmed")
            #expect(row.type == .email)
            #expect(row.status == .queued)
            #expect(row.eventID == event.id)
            #expect(row.bookingID == outcome.booking.id)
            #expect(row.content["subject"] == "Booking confirmed: Jazz Night (\(outcome.booking.reference))")
            #expect(row.content["booking_reference"] == outcome.booking.reference)
            #expect(row.content["quantity"] == "2")
            #expect(row.content["total_amount"] == "24.00")
            #expect(row.content["body"]?.contains(outcome.booking.reference) == true)

            let again = try await f.tx {
                try await f.notifications.create(from: notice, type: .email, dedupeKey: "job-1:email", now: f.now, on: $0)
            }
            #expect(!again.created)
            #expect(again.notification.id == row.id)
        }
    }

    @Test func usersSeeAndReadOnlyTheirOwnNewestFirst() async throws {
        try await BookingFixture.with { f in
            let ann = try await f.user()
            let bob = try await f.user()
            var ids: [UUID] = []
            for minute in 0..<3 {
                ids.append(try await f.tx {
                    try await f.notifications.create(userID: ann.id, type: .inApp, template: "reminder", content: ["n": "\(minute)"],
                                                     channels: [.inApp], now: f.now.addingTimeInterval(Double(minute) * 60), on: $0)
                }.notification.id)
            }
            _ = try await f.tx {
                try await f.notifications.create(userID: bob.id, type: .inApp, template: "reminder", content: [:],
                                                 channels: [.inApp], now: f.now, on: $0)
            }
            let listed = try await f.tx { try await f.notifications.list(userID: ann.id, on: $0) }
            #expect(listed.map(\.id) == ids.reversed())
            #expect(listed.map { $0.content["n"] } == ["2", "1", "0"])

            await #expect(throws: BookingError.notificationNotFound) {
                try await f.tx { try await f.notifications.markRead(id: ids[0], userID: bob.id, now: f.now, on: $0) }
            }
            let readAt = f.now.addingTimeInterval(300)
            let read = try await f.tx { try await f.notifications.markRead(id: ids[0], userID: ann.id, now: readAt, on: $0) }
            #expect(read.status == .read)
            #expect(read.readAt == readAt)
            let reread = try await f.tx {
                try await f.notifications.markRead(id: ids[0], userID: ann.id, now: readAt.addingTimeInterval(60), on: $0)
            }
            #expect(reread.readAt == readAt)
        }
    }

    @Test func deliveryStatesMoveOnlyForward() async throws {
        try await BookingFixture.with { f in
            let user = try await f.user()
            let row = try await f.tx {
                try await f.notifications.create(userID: user.id, type: .sms, template: "reminder", content: [:],
                                                 channels: [.sms], now: f.now, on: $0)
            }.notification
            #expect(try await f.tx { try await f.notifications.markFailed(id: row.id, error: "503", now: f.now, on: $0) })
            #expect(try await f.tx { try await f.notifications.markSent(id: row.id, providerMessageID: "SM1", now: f.now, on: $0) })
            #expect(try await f.tx { try await f.notifications.markSkipped(id: row.id, reason: "late", now: f.now, on: $0) } == false)
            #expect(try await f.tx { try await f.notifications.markDelivered(providerMessageID: "SM1", now: f.now, on: $0) })
            #expect(try await f.tx { try await f.notifications.markDelivered(providerMessageID: "SM1", now: f.now, on: $0) } == false)
            let stored = try await f.tx { try await f.notifications.list(userID: user.id, on: $0) }
            #expect(stored.first?.status == .delivered)
            #expect(stored.first?.providerMessageID == "SM1")
            #expect(stored.first?.lastError == "503")
        }
    }
}
