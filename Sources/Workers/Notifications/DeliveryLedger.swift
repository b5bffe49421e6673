import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// What the email and SMS workers share: find the notification, make sure no two attempts
/// talk to the provider about it at once, record each outcome on its row.
///
/// Before contacting the provider an attempt marks the row as its own (``begin(_:context:)``),
/// in the transaction that confirms it still owns its job; every outcome it records afterwards
/// is fenced by that mark. An attempt that finds another's mark inside its ``SendingWindow``
/// snoozes until that attempt has recorded its outcome or its window has passed.
struct DeliveryLedger: Sendable {
    let client: PostgresClient
    let logger: Logger
    let window: SendingWindow
    /// Counts each outcome recorded here (`evently_deliveries_total`).
    var metrics: DeliveryMetrics? = nil
    /// Shared by every attempt of the worker, so marks that end together commit together.
    var sentMarks: SentMarks? = nil
    /// Shared by every attempt of the worker, so marks taken together commit together (the
    /// window must be this ledger's).
    var sendingMarks: SendingMarks? = nil

    var store: NotificationStore { NotificationStore(logger: logger) }

    /// The longest any one write after the provider answered may wait for the database.
    static let writeLimit: Duration = .seconds(10)

    /// This attempt's sending mark on the row and what to send, or `nil` when the row no longer
    /// needs sending (sent, delivered, read or skipped already).
    ///
    /// One statement in the usual case, shared with the attempts that start at the same time
    /// (``SendingMarks``): it confirms the attempt still owns its job, marks the row, and reads
    /// the row with its user's contact (five round trips as a transaction of separate steps,
    /// BENCHMARKS.md "One statement per sending mark"). Otherwise the same
    /// steps in one transaction say what is the case. Throws ``JobControl/snooze(_:)``
    /// (which spends no attempt) while another attempt's mark is inside its window,
    /// ``JobNoLongerOwned`` when this attempt lost its job, and ``JobControl/discard(reason:)``
    /// when the row is gone.
    func begin(_ id: UUID, context: JobContext) async throws -> (mark: SendingMark, target: DeliveryTarget)? {
        let store = self.store, window = self.window
        let token = context.attemptToken
        // Our clock starts before the database's: the mark is never taken to last longer here
        // than it does for the attempts that read `sending_since`.
        let started = ContinuousClock.now
        // The usual case in one statement; anything else (lost job, another mark, a settled or
        // missing row, a job row another transaction held just then) wrote nothing there and is
        // told apart by the transaction below, which waits for the job's row.
        let request = SendingMarkRequest(id: id, token: token, jobID: context.jobID, attempt: context.attempt)
        let taken: DeliveryTarget?
        if let sendingMarks {
            taken = try await sendingMarks.take(request)
        } else {
            taken = try await client.withOpenConnection { try await store.markSendingIfOwned([request], window: window.total, on: $0)[token] }
        }
        if let target = taken {
            return (SendingMark(id: id, token: token, startBy: started + SendingWindow.startWithin, holdsUntil: started + window.total),
                    target)
        }
        let (found, target) = try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                try await context.confirmOwnership(on: connection)
                let found = try await store.markSending(id: id, by: token, window: window.total, on: connection)
                guard case .taken = found else { return (found, nil as DeliveryTarget?) }
                // Thrown inside, so the mark goes with the transaction.
                guard let target = try await store.deliveryTarget(id: id, on: connection) else {
                    throw JobControl.discard(reason: "notification \(id) has no user to send to")
                }
                return (found, target)
            }
        }
        switch found {
        case .taken:
            guard let target else { throw JobControl.discard(reason: "notification \(id) no longer exists") }
            let mark = SendingMark(id: id, token: token, startBy: started + SendingWindow.startWithin,
                                   holdsUntil: started + window.total)
            return (mark, target)
        case .heldElsewhere(let holder, let remaining):
            let wait = window.recheck(remaining: remaining)
            logger.info("""
                another attempt (job:attempt \(holder)) may still be sending this notification: \
                looking again in \(wait) (its window ends in \(remaining))
                """, metadata: ["notification_id": "\(id)"])
            throw JobControl.snooze(wait)
        case .settled(let status):
            logger.info("notification is \(status.rawValue) already; not sending it again", metadata: ["notification_id": "\(id)"])
            return nil
        case .missing:
            throw JobControl.discard(reason: "notification \(id) no longer exists")
        }
    }

    func skip(_ mark: SendingMark, reason: String) async throws {
        let store = self.store
        let skipped = try await record(mark) { try await store.markSkipped(id: mark.id, reason: reason, sendingBy: mark.token, now: Date(), on: $0) }
        if skipped {
            metrics?.record(.skipped)
            logger.info("notification skipped: \(reason)", metadata: ["notification_id": "\(mark.id)"])
        }
    }

    /// The message is out: record it even when this attempt is being cancelled (its lease was
    /// lost, a shutdown) or the database blinks, for as long as the mark keeps every other
    /// attempt away; after that a rerun may send it again.
    func sent(_ mark: SendingMark, providerMessageID: String?) async throws {
        let store = self.store, client = self.client, sentMarks = self.sentMarks
        let sent = SentMark(id: mark.id, providerMessageID: providerMessageID, sendingBy: mark.token, at: Date())
        metrics?.record(.sent)
        var delay = Duration.milliseconds(100)
        while true {
            let left = mark.holdsUntil - ContinuousClock.now
            do {
                guard left > .zero else { throw SendingWindowEnded(window: window.total) }
                let recorded = try await Task {
                    try await withDeadline(min(left, Self.writeLimit)) {
                        if let sentMarks { return try await sentMarks.record(sent) }
                        return try await client.withOpenConnection { try await store.markSent([sent], on: $0) }.contains(sent.id)
                    }
                }.value
                if !recorded {
                    logger.error("""
                        the provider took the notification, but its row no longer carries this attempt's mark \
                        (another attempt took it after the window, or the row changed): it may go out twice
                        """, metadata: ["notification_id": "\(mark.id)"])
                }
                return
            } catch {
                guard ContinuousClock.now + delay < mark.holdsUntil else {
                    logger.error("""
                        the provider took the notification, but it could not be recorded as sent within its \
                        window (\(window.total)): a rerun will send it again: \(readableDescription(of: error))
                        """, metadata: ["notification_id": "\(mark.id)"])
                    throw error
                }
                logger.warning("recording a sent notification failed, retrying: \(readableDescription(of: error))", metadata: ["notification_id": "\(mark.id)"])
                let pause = delay
                try? await Task { try await Task.sleep(for: pause) }.value
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// A refusal for good, the session over and nothing sent: the row is failed with the reason
    /// (and its mark cleared), and the job is discarded.
    func failForGood(_ mark: SendingMark, reason: String) async throws -> Never {
        let store = self.store
        metrics?.record(.failed)
        _ = try await record(mark) { try await store.markFailed(id: mark.id, error: reason, sendingBy: mark.token, now: Date(), on: $0) }
        throw JobControl.discard(reason: reason)
    }

    /// A failure worth retrying, the session over: the error is kept on the row (failed on the
    /// job's last attempt) and rethrown so the queue retries the job.
    ///
    /// The mark is cleared even when the provider may have taken the message (a timeout after
    /// the end of DATA): the window keeps two sessions from overlapping; waiting it out after
    /// one has ended would not make a resend any less of a duplicate.
    func failForNow(_ mark: SendingMark, error: any Error, context: JobContext) async throws -> Never {
        let store = self.store
        let reason = "\(error)"
        metrics?.record(context.attempt >= context.maxAttempts ? .failed : .retry)
        if context.attempt >= context.maxAttempts {
            _ = try await record(mark) { try await store.markFailed(id: mark.id, error: reason, sendingBy: mark.token, now: Date(), on: $0) }
        } else {
            _ = try await record(mark) { try await store.releaseSending(id: mark.id, sendingBy: mark.token, error: reason, on: $0) }
        }
        throw error
    }

    /// One write of an outcome, made whatever becomes of the attempt's task: a cancelled
    /// attempt that could not clear its mark would keep the next one waiting for the window.
    private func record(_ mark: SendingMark, _ write: @escaping @Sendable (PostgresConnection) async throws -> Bool) async throws -> Bool {
        let client = self.client
        return try await Task {
            try await withDeadline(Self.writeLimit) { try await client.withOpenConnection { try await write($0) } }
        }.value
    }
}

/// An attempt's mark on a notification row: its name, and how long, by this process's clock,
/// no other attempt can take it.
struct SendingMark: Sendable {
    let id: UUID
    let token: String
    /// The latest a provider session may start and still end inside the window.
    let startBy: ContinuousClock.Instant
    /// Until when the mark is surely ours: measured from before the mark was written.
    let holdsUntil: ContinuousClock.Instant
}

struct SendingWindowEnded: Error, CustomStringConvertible {
    var window: Duration
    var description: String { "the sending window (\(window)) has ended" }
}
