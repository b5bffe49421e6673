extension ConfReader {
    /// `[live]`: the limits of live streams (``LiveSettings``).
    mutating func liveSettings() throws(ConfigError) -> LiveSettings {
        var live = LiveSettings()
        live.maxConnections = try integer("live", "max_connections", in: 1...1_000_000) ?? live.maxConnections
        live.maxConnectionsPerUser = try integer("live", "max_connections_per_user", in: 1...10_000) ?? live.maxConnectionsPerUser
        live.maxConnectionsPerAddress = try integer("live", "max_connections_per_ip", in: 1...1_000_000) ?? live.maxConnectionsPerAddress
        live.buffer = try integer("live", "buffer", in: 8...100_000) ?? live.buffer
        live.replayLimit = try integer("live", "replay_limit", in: 1...100_000) ?? live.replayLimit
        live.maxEventsPerConnection = try integer("live", "max_events_per_connection", in: 1...10_000) ?? live.maxEventsPerConnection
        live.pingInterval = try between("live", "ping_interval", .seconds(1), .seconds(600)) ?? live.pingInterval
        live.eventInterval = try between("live", "event_interval", .milliseconds(10), .seconds(60)) ?? live.eventInterval
        live.queuesInterval = try between("live", "queues_interval", .milliseconds(100), .seconds(600)) ?? live.queuesInterval
        live.authTimeout = try between("live", "auth_timeout", .milliseconds(100), .seconds(600)) ?? live.authTimeout
        return live
    }

    mutating func between(_ section: String, _ key: String, _ low: Duration, _ high: Duration) throws(ConfigError) -> Duration? {
        guard let value = try duration(section, key) else { return nil }
        guard value >= low, value <= high else {
            throw error(section, key, "must be between \(low) and \(high)")
        }
        return value
    }
}
