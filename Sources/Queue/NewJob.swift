import Foundation

/// A job to insert: its kind, its arguments as a JSON object, and options.
public struct NewJob: Sendable, Equatable {
    public var kind: String
    /// The arguments as JSON text (an object).
    public var argsJSON: String
    public var options: EnqueueOptions

    /// A job from raw JSON arguments (the CLI, the HTTP intake, other languages' payloads).
    public init(kind: String, argsJSON: String = "{}", options: EnqueueOptions = .init()) {
        self.kind = kind
        self.argsJSON = argsJSON
        self.options = options
    }

    /// A job from a typed payload, stored under the payload's kind.
    public init<Payload: JobPayload>(_ payload: Payload, options: EnqueueOptions = .init()) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.dateEncodingStrategy = .iso8601
        self.init(kind: Payload.kind, argsJSON: String(decoding: try encoder.encode(payload), as: UTF8.self), options: options)
    }
}

extension Duration {
    /// Seconds as a floating-point number.
    public var timeInterval: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
