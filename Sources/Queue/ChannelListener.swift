import Logging
import PostgresNIO

/// Holds a LISTEN on one channel and hands each NOTIFY's payload on: the job daemon's on
/// `evently_jobs` wakes the producer of the queue it names; the live streams' on `evently_live`
/// learns which rows changed.
///
/// LISTEN is session state, so it needs one connection for itself: with a ``listenConnection``
/// configuration it opens its own (not a pool lease, which PgBouncer in transaction mode or a
/// pool recycling a dead connection would break), otherwise it holds a pool connection. When the
/// connection is lost the loop connects again after a short backoff and wakes every producer
/// once, since notifications sent meanwhile are gone; producers' polling covers the gap.
public struct ChannelListener: Sendable {
    /// How long opening the LISTEN connection may take before it is tried again.
    static let connectDeadline: Duration = .seconds(10)

    let channel: String
    let client: PostgresClient
    let listenConnection: PostgresConnection.Configuration?
    let logger: Logger
    /// Called with each notification's payload.
    let onNotification: @Sendable (String) -> Void
    /// Called after every (re)connect.
    let onListening: @Sendable () -> Void

    public init(channel: String, client: PostgresClient, listenConnection: PostgresConnection.Configuration?, logger: Logger,
                onNotification: @escaping @Sendable (String) -> Void, onListening: @escaping @Sendable () -> Void) {
        self.channel = channel
        self.client = client
        self.listenConnection = listenConnection
        self.logger = logger
        self.onNotification = onNotification
        self.onListening = onListening
    }

    /// Listens until cancelled, connecting again after every loss.
    public func run() async {
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
                logger.warning("LISTEN \(channel) connection lost, reconnecting in \(backoff): \(readableDescription(of: error))")
            }
            do { try await Task.sleep(for: backoff) } catch { return }
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    private func listen(on connection: PostgresConnection, connected: () -> Void) async throws {
        try await connection.listen(on: channel) { notifications in
            connected()
            onListening()
            for try await notification in notifications {
                onNotification(notification.payload)
            }
        }
    }
}
