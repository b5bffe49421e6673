/// `[live]`: the limits of live streams (`GET /v1/live`, `GET /v1/live/events`).
struct LiveSettings: Sendable, Equatable {
    /// Streams this daemon holds at most; one more is answered 503.
    var maxConnections = 10_000
    /// Streams one user (token subject) may hold at once; one more is answered 429.
    var maxConnectionsPerUser = 8
    /// Streams one client address may hold at once (IPv6 per /64); one more is answered 429.
    var maxConnectionsPerAddress = 512
    /// Messages a stream may have waiting for a slow client. One more and the client is told to
    /// resync (read the REST lists) and the stream is closed: memory never grows with a client
    /// that does not read.
    var buffer = 256
    /// Missed changes a reconnecting client is sent at most; beyond, it is told to resync.
    var replayLimit = 500
    /// Keeps idle streams open through proxies: WebSocket ping frames, SSE comment lines.
    var pingInterval: Duration = .seconds(25)
    /// An event's seats and price are sent at most once per interval (the latest value).
    var eventInterval: Duration = .milliseconds(250)
    /// How often subscribers of `queues` get the per-queue counts.
    var queuesInterval: Duration = .seconds(1)
    /// How long a WebSocket that authenticates by its first message has to send it.
    var authTimeout: Duration = .seconds(10)
    /// Events one stream may watch at once.
    var maxEventsPerConnection = 100
}
