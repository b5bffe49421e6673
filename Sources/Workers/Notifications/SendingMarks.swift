import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue

/// Takes the sending marks of messages whose attempts start together in one statement and one
/// commit (``NotificationStore/markSendingIfOwned(_:window:on:)``).
///
/// Every attempt of a worker used to take its own mark: one statement and one commit per
/// message, the largest share of PostgreSQL's time per email in `bench-email` (BENCHMARKS.md,
/// "Sending marks together"). While one group's statement runs, the attempts that arrive wait
/// and go together in the next (``GroupCombiner``: no timer, a lone attempt goes at once). Each
/// attempt still gets its own answer: its target, or `nil` when its mark was not taken (it then
/// learns why by the separate steps, as before).
final class SendingMarks: Sendable {
    /// Most marks in one statement: about as many as a worker runs attempts at once.
    static let maximumGroup = 64

    private let combiner: GroupCombiner<Int, SendingMarkRequest, DeliveryTarget?>

    init(client: PostgresClient, window: Duration, logger: Logger) {
        let store = NotificationStore(logger: logger)
        combiner = GroupCombiner(maximumGroup: Self.maximumGroup, failsWaiting: SentMarks.databaseUnavailable) { _, requests in
            do {
                let taken = try await client.withOpenConnection { try await store.markSendingIfOwned(requests, window: window, on: $0) }
                return requests.map { .success(taken[$0.token]) }
            } catch {
                return requests.map { _ in .failure(error) }
            }
        }
    }

    /// The target of `request`'s message with its mark taken, or `nil` when it was not taken.
    func take(_ request: SendingMarkRequest) async throws -> DeliveryTarget? {
        try await combiner.submit(request, key: 0)
    }
}
