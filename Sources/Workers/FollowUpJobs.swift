import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// Turns a use case's follow-ups into jobs on the caller's connection, inside the caller's
/// transaction: a booking and the work it implies commit or roll back together.
///
/// The notices become one `notifications.dispatch` job (which stores a row per channel and
/// enqueues each delivery, see ``NotificationDispatch``); a freed-seats follow-up becomes a
/// `waitlist.promote` job. One job row is all a booking adds while it holds its event's row
/// lock: on a sold-out hot event that lock is the bottleneck.
public struct FollowUpJobs: Sendable {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// The jobs `followUps` imply (without storing anything).
    public static func jobs(for followUps: [FollowUp]) throws -> [NewJob] {
        var seen = Set<UUID>()
        var jobs: [NewJob] = try followUps.compactMap { followUp in
            guard case .promoteWaitlist(let eventID) = followUp, seen.insert(eventID).inserted else { return nil }
            return try NewJob(WaitlistPromotionWorker.Payload(eventID: eventID))
        }
        let notices = followUps.compactMap(\.notice)
        if !notices.isEmpty {
            jobs.append(try NewJob(NotificationDispatchWorker.Payload(notices: notices), options: NotificationDispatch.jobOptions))
        }
        return jobs
    }

    public func apply(_ followUps: [FollowUp], now: Date, on connection: PostgresConnection) async throws {
        try await JobClient.enqueue(try Self.jobs(for: followUps), on: connection, logger: logger)
    }
}

/// `notifications.dispatch`: stores the notices of a committed use case as notification rows
/// (one per channel) and enqueues their deliveries, in one transaction with the job's own
/// completion; a re-run finds its rows by their dedupe keys (`dispatch:<job id>:<n>:<channel>`).
public struct NotificationDispatchWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "notifications.dispatch"
        public var notices: [Notice]
        public init(notices: [Notice]) { self.notices = notices }
    }

    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let keys = payload.notices.indices.map { Optional("dispatch:\(context.jobID):\($0)") }
        try await client.withConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                try await NotificationDispatch(logger: logger).send(payload.notices, dedupeKeys: keys, now: Date(), on: connection)
                try await context.complete(on: connection)
            }
        }
    }
}

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
            let channels = notice.channels ?? Self.defaultChannels(hasPhone: phones[notice.userID] != nil)
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

    static func defaultChannels(hasPhone: Bool) -> [NotificationChannel] {
        hasPhone ? [.inApp, .email, .sms] : [.inApp, .email]
    }

    /// Delivery retries for about a day (1 s doubling, capped at an hour) before giving up.
    public static let jobOptions = EnqueueOptions(queue: queue, maxAttempts: 30)
}

/// Rules shared by the intake and the waitlist workers, from jobs.conf `[booking]`.
public struct BookingSettings: Sendable {
    public var maxQuantity: Int
    /// How long a waitlist offer holds its seats.
    public var offerWindow: Duration
    public var pricing: PricingPolicy

    public init(maxQuantity: Int = 10, offerWindow: Duration = .seconds(900), pricing: PricingPolicy = .standard) {
        self.maxQuantity = maxQuantity
        self.offerWindow = offerWindow
        self.pricing = pricing
    }
}
