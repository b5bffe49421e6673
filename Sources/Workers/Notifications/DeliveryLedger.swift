import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// What the email and SMS workers share: find the notification, never send one twice, record
/// each outcome on its row.
struct DeliveryLedger: Sendable {
    let client: PostgresClient
    let logger: Logger

    var store: NotificationStore { NotificationStore(logger: logger) }

    /// The notification to send, or `nil` when there is nothing (left) to do.
    func pending(_ id: UUID) async throws -> DeliveryTarget? {
        let store = self.store
        guard let target = try await client.withOpenConnection({ try await store.deliveryTarget(id: id, on: $0) }) else {
            throw JobControl.discard(reason: "notification \(id) no longer exists")
        }
        switch target.notification.status {
        case .queued, .failed:
            // A failed row is sent again only when an operator retries its job.
            return target
        case .sent, .delivered, .read:
            logger.info("notification already sent; not sending it again", metadata: ["notification_id": "\(id)"])
            return nil
        case .skipped:
            return nil
        }
    }

    func skip(_ id: UUID, reason: String) async throws {
        let store = self.store
        _ = try await client.withOpenConnection { try await store.markSkipped(id: id, reason: reason, now: Date(), on: $0) }
        logger.info("notification skipped: \(reason)", metadata: ["notification_id": "\(id)"])
    }

    /// The message is out: record it even when this attempt is being cancelled (its timeout, a
    /// shutdown) or the database blinks, or a rerun would send it again.
    func sent(_ id: UUID, providerMessageID: String?) async throws {
        let store = self.store, client = self.client
        var delay = Duration.milliseconds(100)
        for attempt in 1...5 {
            do {
                try await Task {
                    _ = try await client.withOpenConnection {
                        try await store.markSent(id: id, providerMessageID: providerMessageID, now: Date(), on: $0)
                    }
                }.value
                return
            } catch where attempt < 5 {
                logger.warning("recording a sent notification failed, retrying: \(error)", metadata: ["notification_id": "\(id)"])
                let pause = delay
                try? await Task { try await Task.sleep(for: pause) }.value
                delay *= 2
            }
        }
    }

    /// A refusal for good: the row is failed with the reason and the job is discarded.
    func failForGood(_ id: UUID, reason: String) async throws -> Never {
        let store = self.store
        _ = try await client.withOpenConnection { try await store.markFailed(id: id, error: reason, now: Date(), on: $0) }
        throw JobControl.discard(reason: reason)
    }

    /// A failure worth retrying: the error is kept on the row (failed on the job's last attempt)
    /// and rethrown so the queue retries the job.
    func failForNow(_ id: UUID, error: any Error, context: JobContext) async throws -> Never {
        let store = self.store
        let reason = "\(error)"
        if context.attempt >= context.maxAttempts {
            _ = try await client.withOpenConnection { try await store.markFailed(id: id, error: reason, now: Date(), on: $0) }
        } else {
            _ = try await client.withOpenConnection { try await store.recordAttemptError(id: id, error: reason, on: $0) }
        }
        throw error
    }
}
