/// A live daemon with the jobs it runs now.
public struct DaemonActivity: Sendable, Equatable, Codable {
    public var daemon: DaemonRecord
    public var running: Int

    public func encode(to encoder: any Encoder) throws {
        try daemon.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(running, forKey: .running)
    }

    public init(from decoder: any Decoder) throws {
        daemon = try DaemonRecord(from: decoder)
        running = try decoder.container(keyedBy: CodingKeys.self).decode(Int.self, forKey: .running)
    }

    init(daemon: DaemonRecord, running: Int) {
        self.daemon = daemon
        self.running = running
    }

    enum CodingKeys: String, CodingKey { case running }
}
