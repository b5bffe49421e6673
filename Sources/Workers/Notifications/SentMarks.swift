import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// Writes the `sent` marks of messages that end together in one statement and one commit.
///
/// The messages of one shared SMTP session come back at the same moment; each used to commit its
/// own `sent` mark. While one group's statement runs, the marks that arrive wait and go together
/// in the next (``GroupCombiner``: no timer, a lone mark goes at once). Each message still learns
/// whether its own mark was recorded.
final class SentMarks: Sendable {
    /// Most marks in one statement: the most messages of one session (`smtp.messages_per_session`).
    static let maximumGroup = 50

    private let combiner: GroupCombiner<Int, SentMark, Bool>

    init(client: PostgresClient, logger: Logger) {
        let store = NotificationStore(logger: logger)
        // While the database does not answer, marks waiting behind a failed group fail with it at
        // once (each caller retries on its own) instead of each waiting out its own deadline.
        combiner = GroupCombiner(maximumGroup: Self.maximumGroup, failsWaiting: Self.databaseUnavailable) { _, marks in
            do {
                let recorded = try await withDeadline(DeliveryLedger.writeLimit) {
                    try await client.withOpenConnection { try await store.markSent(marks, on: $0) }
                }
                return marks.map { .success(recorded.contains($0.id)) }
            } catch {
                return marks.map { _ in .failure(error) }
            }
        }
    }

    static func databaseUnavailable(_ error: any Error) -> Bool {
        error is DeadlineExceeded || error is ConnectionClosed || error is DatabaseConnectionLost
    }

    /// Whether `mark` was recorded: false when its row no longer carries the attempt's mark.
    func record(_ mark: SentMark) async throws -> Bool {
        try await combiner.submit(mark, key: 0)
    }
}
