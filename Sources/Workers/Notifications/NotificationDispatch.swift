import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// Stores a notice as one notification row per channel and enqueues its delivery, on the
/// caller's connection (so in the caller's transaction).
///
/// Channels: the notice's own (a waitlist entry may narrow them), otherwise in-app and email,
/// plus SMS when the user has a phone number (from the token's `phone_number` claim). In-app
/// rows are delivered by being stored; email and SMS rows get an `email.send` / `sms.send` job
/// on the `notifications` queue; push has no provider yet and is marked skipped.
public struct NotificationDispatch: Sendable {
    /// Where delivery jobs go, so a mail backlog never delays bookings' own jobs.
    public static let queue = "notifications"

    let store: NotificationStore
    let logger: Logger

    public init(logger: Logger) {
        self.store = NotificationStore(logger: logger)
        self.logger = logger
    }

    /// - Parameter dedupeKeys: per notice, a key that makes storing it again a no-op (e.g. a
    ///   reminder's booking and offset); each channel's row gets `key:channel`.
    public func send(_ notices: [Notice], dedupeKeys: [String?]? = nil, now: Date,
                     on connection: PostgresConnection) async throws {
        guard !notices.isEmpty else { return }
        let needPhones = notices.filter { $0.channels == nil }.map(\.userID)
        let phones = try await store.phones(of: Array(Set(needPhones)), on: connection)
        var jobs: [NewJob] = []
        for (index, notice) in notices.enumerated() {
            let channels = notice.channels ?? NotificationChannel.defaults(hasPhone: phones[notice.userID] != nil)
            let content = try await store.content(for: notice, on: connection)
            for channel in channels {
                let dedupeKey = dedupeKeys?[index].map { "\($0):\(channel.rawValue)" }
                let (row, created) = try await store.create(
                    userID: notice.userID, type: channel, template: notice.template.rawValue, content: content,
                    channels: channels, eventID: notice.eventID, bookingID: notice.bookingID, dedupeKey: dedupeKey,
                    now: now, on: connection)
                guard created else { continue }
                switch channel {
                case .inApp:
                    try await store.markDelivered(id: row.id, now: now, on: connection)
                case .email:
                    jobs.append(try NewJob(EmailSendWorker.Payload(notificationID: row.id), options: Self.jobOptions))
                case .sms:
                    jobs.append(try NewJob(SMSSendWorker.Payload(notificationID: row.id), options: Self.jobOptions))
                case .push:
                    try await store.markSkipped(id: row.id, reason: "push notifications have no provider configured", now: now,
                                                on: connection)
                }
            }
        }
        try await JobClient.enqueue(jobs, on: connection, logger: logger)
    }

    /// Delivery retries for about a day (1 s doubling, capped at an hour) before giving up.
    public static let jobOptions = EnqueueOptions(queue: queue, maxAttempts: 30)
}
