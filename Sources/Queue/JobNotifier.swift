import Logging
import PostgresNIO

/// Holds a LISTEN on `evently_jobs` and wakes the producer of the queue named in each NOTIFY.
///
/// LISTEN is session state, so it needs one connection for itself: with a ``listenConnection``
/// configuration it opens its own (not a pool lease, which PgBouncer in transaction mode or a
/// pool recycling a dead connection would break), otherwise it holds a pool connection. When the
/// connection is lost the loop connects again after a short backoff and wakes every producer
/// once, since notifications sent meanwhile are gone; producers' polling covers the gap.
struct JobNotifier: Sendable {
    static let channel = "evently_jobs"
    /// How long opening the LISTEN connection may take before it is tried again.
    static let connectDeadline: Duration = .seconds(10)

    let client: PostgresClient
    let listenConnection: PostgresConnection.Configuration?
    let logger: Logger
    /// Called with the queue named in a notification.
    let onNotification: @Sendable (String) -> Void
    /// Called after every (re)connect.
    let onListening: @Sendable () -> Void

    func run() async {
        var backoff = Duration.milliseconds(100)
        var attempt = 0
        while !Task.isCancelled {
            do {
                if let listenConnection {
                    attempt += 1
                    let connection = try await withDeadline(Self.connectDeadline) { [logger, attempt] in
                        try await PostgresConnection.connect(configuration: listenConnection, id: attempt, logger: logger)
                    }
                    do {
                        try await listen(on: connection) { backoff = .milliseconds(100) }
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                } else {
                    try await client.withOpenConnection { connection in
                        try await listen(on: connection) { backoff = .milliseconds(100) }
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

    private func listen(on connection: PostgresConnection, connected: () -> Void) async throws {
        try await connection.listen(on: Self.channel) { notifications in
            connected()
            onListening()
            for try await notification in notifications {
                onNotification(notification.payload)
            }
        }
    }
}
