/// Built-in kinds for smoke-testing a deployment: `diag.noop`, `diag.sleep`, `diag.fail`.
public enum DiagnosticWorkers {
    public struct Noop: JobWorker {
        public struct Payload: JobPayload {
            public static let kind = "diag.noop"
            public init() {}
        }
        public init() {}
        public func work(_ payload: Payload, context: JobContext) async throws {}
    }

    /// Sleeps `ms` milliseconds (cancellable, so shutdown and timeouts interrupt it).
    public struct Sleep: JobWorker {
        public struct Payload: JobPayload {
            public static let kind = "diag.sleep"
            public var ms: Int
            public init(ms: Int) { self.ms = ms }
        }
        public init() {}
        public func work(_ payload: Payload, context: JobContext) async throws {
            try await Task.sleep(for: .milliseconds(max(payload.ms, 0)))
        }
    }

    /// Fails its first `times` attempts, then succeeds.
    public struct Fail: JobWorker {
        public struct Payload: JobPayload {
            public static let kind = "diag.fail"
            public var times: Int
            public init(times: Int) { self.times = times }
        }
        public struct Failure: Error, CustomStringConvertible {
            public var attempt: Int
            public var description: String { "diag.fail: planned failure on attempt \(attempt)" }
        }
        public init() {}
        public func work(_ payload: Payload, context: JobContext) async throws {
            if context.attempt <= payload.times { throw Failure(attempt: context.attempt) }
        }
    }

    /// Registers all three.
    public static func register(in registry: inout WorkerRegistry) throws {
        try registry.register(Noop())
        try registry.register(Sleep())
        try registry.register(Fail())
    }
}
