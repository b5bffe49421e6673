import Logging
import PostgresNIO

/// Holds a LISTEN on `evently_jobs` and wakes the producer of the queue named in each NOTIFY.
///
/// LISTEN exists only on a single connection, so one pool connection is kept for it. When that
/// connection is lost the loop takes another after a short backoff and wakes every producer
/// once, since notifications sent meanwhile are gone; producers' polling covers the gap.
struct JobNotifier: Sendable {
    static let channel = "evently_jobs"

    let client: PostgresClient
    let logger: Logger
    /// Called with the queue named in a notification.
    let onNotification: @Sendable (String) -> Void
    /// Called after every (re)connect.
    let onListening: @Sendable () -> Void

    func run() async {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        backoff = .milliseconds(100)
                        onListening()
                        for try await notification in notifications {
                            onNotification(notification.payload)
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("LISTEN connection lost, reconnecting in \(backoff): \(readableDescription(of: error))")
            }
            do { try await Task.sleep(for: backoff) } catch { return }
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
