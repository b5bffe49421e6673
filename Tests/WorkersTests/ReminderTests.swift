import BookingCore
import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import Workers

@Suite(.timeLimit(.minutes(5))) struct ReminderTests {
    static let logger = DeliveryFixture.logger

    static func context(_ id: Int64) -> JobContext {
        JobContext(jobID: id, kind: ReminderScanWorker.Payload.kind, queue: "default", attempt: 1, maxAttempts: 3, logger: logger)
    }

    /// Reminder rows (one per channel) per booking and offset, read back from the database.
    static func reminders(_ f: DeliveryFixture) async throws -> [String: Int] {
        try await f.client.withConnection { connection in
            let rows = try await connection.query("""
                SELECT booking_id::text || ' ' || type, count(*)::int FROM evently.notifications
                WHERE template = 'reminder' GROUP BY 1
                """, logger: logger)
            var counts: [String: Int] = [:]
            for try await (key, count) in rows.decode((String, Int).self) { counts[key] = count }
            return counts
        }
    }

    static func claims(_ f: DeliveryFixture) async throws -> Set<String> {
        try await f.client.withConnection { connection in
            let rows = try await connection.query(
                "SELECT booking_id::text || '/' || offset_seconds FROM evently.booking_reminders", logger: logger)
            var claims = Set<String>()
            for try await key in rows.decode(String.self) { claims.insert(key) }
            return claims
        }
    }

    @Test func scansByTwoDaemonsAtOnceSendOneReminderPerBookingAndOffset() async throws {
        try await DeliveryFixture.with { f in
            let now = Date()
            let twoDaysAgo = now.addingTimeInterval(-2 * 86_400)
            // Starts in 30 minutes: both the 24 h and the 1 h reminder are due.
            let soon = try await f.event(startsAt: now.addingTimeInterval(1_800), createdAt: twoDaysAgo)
            // Starts in 5 hours: only the 24 h reminder is due.
            let later = try await f.event(startsAt: now.addingTimeInterval(5 * 3_600), createdAt: twoDaysAgo)
            // Starts in 3 days: nothing yet.
            let far = try await f.event(startsAt: now.addingTimeInterval(3 * 86_400), createdAt: twoDaysAgo)

            var soonBookings: [Booking] = [], laterBookings: [Booking] = []
            for index in 0..<6 {
                let user = try await f.user("holder\(index)", phone: index.isMultiple(of: 2) ? "+1555000\(index)" : nil)
                soonBookings.append(try await f.book(user, soon, quantity: 1, at: twoDaysAgo))
                laterBookings.append(try await f.book(user, later, quantity: 1, at: twoDaysAgo))
                try await f.book(user, far, quantity: 1, at: twoDaysAgo)
            }
            // Booked 2 hours ago, after the 24 h mark but before the 1 h one: only the 1 h reminder.
            let lateComer = try await f.user("latecomer")
            let lateBooking = try await f.book(lateComer, soon, quantity: 2, at: now.addingTimeInterval(-7_200))
            // Booked 10 minutes ago, after both marks: the confirmation says it all, no reminder.
            let lastMinute = try await f.book(try await f.user("lastminute"), soon, quantity: 1, at: now.addingTimeInterval(-600))
            // Cancelled bookings get nothing.
            let canceller = try await f.user("canceller")
            let cancelled = try await f.book(canceller, soon, quantity: 1, at: twoDaysAgo)
            _ = try await f.tx { try await BookingStore(logger: Self.logger).cancel(bookingID: cancelled.id, by: canceller.id, now: now, on: $0) }

            // Two "daemons" (separate worker instances, separate pool connections), each running
            // the scan three times, all at once.
            let daemons = [ReminderScanWorker(client: f.client, offsets: [.seconds(86_400), .seconds(3_600)]),
                           ReminderScanWorker(client: f.client, offsets: [.seconds(3_600), .seconds(86_400)])]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for run in 0..<3 {
                    for (index, worker) in daemons.enumerated() {
                        group.addTask { try await worker.work(.init(), context: Self.context(Int64(run * 2 + index))) }
                    }
                }
                try await group.waitForAll()
            }

            let claims = try await Self.claims(f)
            var expected = Set<String>()
            for booking in soonBookings { expected.insert("\(booking.id.uuidString.lowercased())/86400"); expected.insert("\(booking.id.uuidString.lowercased())/3600") }
            for booking in laterBookings { expected.insert("\(booking.id.uuidString.lowercased())/86400") }
            expected.insert("\(lateBooking.id.uuidString.lowercased())/3600")
            #expect(claims == expected)

            let counts = try await Self.reminders(f)
            for (index, booking) in soonBookings.enumerated() {
                let id = booking.id.uuidString.lowercased()
                // Both offsets were due at once (as after downtime): one reminder, not two
                // identical ones; the 24 h one is recorded as superseded.
                #expect(counts["\(id) in_app"] == 1)
                #expect(counts["\(id) email"] == 1)
                #expect(counts["\(id) sms"] == (index.isMultiple(of: 2) ? 1 : nil), "SMS only for holders with a phone")
            }
            for booking in laterBookings {
                #expect(counts["\(booking.id.uuidString.lowercased()) email"] == 1)
            }
            #expect(counts["\(lateBooking.id.uuidString.lowercased()) email"] == 1)
            #expect(counts["\(cancelled.id.uuidString.lowercased()) email"] == nil)
            #expect(counts["\(lastMinute.id.uuidString.lowercased()) email"] == nil)

            // And the delivery jobs: one per reminder email row, never more (the bookings'
            // confirmations wait in their dispatch jobs: no daemon runs here).
            let emailJobs = try await f.jobs(EmailSendWorker.Payload.kind).count
            #expect(emailJobs == 6 + 6 + 1)

            // A fourth scan later finds nothing new.
            try await daemons[0].work(.init(), context: Self.context(99))
            #expect(try await Self.claims(f) == expected)
        }
    }

    @Test func scheduledScansThroughTheQueueSendTheReminderEmail() async throws {
        let smtp = try await SMTPTestServer.start()
        defer { smtp.stop() }
        try await DeliveryFixture.with { f in
            let now = Date()
            let event = try await f.event(startsAt: now.addingTimeInterval(1_800), createdAt: now.addingTimeInterval(-86_400 * 2))
            let ann = try await f.user("ann")
            let booking = try await f.book(ann, event, quantity: 2, at: now.addingTimeInterval(-7_200))
            var delivery = DeliveryFixture.smtp(smtp)
            delivery.reminderOffsets = [.seconds(3_600)]
            try await f.withDaemon(delivery: delivery) {
                _ = try await smtp.waitForMessages(count: 1)  // the confirmation
                for _ in 0..<3 {
                    _ = try await f.tx { try await JobClient.enqueue(try NewJob(ReminderScanWorker.Payload()), on: $0, logger: Self.logger) }
                }
                try await f.waitForJobsToSettle([ReminderScanWorker.Payload.kind, EmailSendWorker.Payload.kind])
                let reminders = try smtp.messages().filter { $0.subject?.hasPrefix("Reminder:") == true }
                #expect(reminders.count == 1)
                #expect(reminders.first?.body.contains(booking.reference) == true)
                #expect(reminders.first?.recipients == [ann.email])
            }
        }
    }

    @Test func pruneDeletesOnlyNotificationsPastTheirAge() async throws {
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let store = NotificationStore(logger: Self.logger)
            for days in [200, 100, 91, 89, 1] {
                _ = try await f.tx {
                    try await store.create(userID: ann.id, type: .inApp, template: "reminder", content: ["age": "\(days)"],
                                           channels: [.inApp], now: Date().addingTimeInterval(-Double(days) * 86_400), on: $0)
                }
            }
            try await NotificationPruneWorker(client: f.client, retention: .seconds(90 * 86_400))
                .work(.init(), context: Self.context(1))
            let left = try await f.notifications(of: ann)[.inApp]?.compactMap { $0.content["age"] }.sorted()
            #expect(left == ["1", "89"])
        }
    }
}
