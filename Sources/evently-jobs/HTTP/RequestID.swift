/// Request ids the intake makes when a request brings none.
enum RequestID {
    /// 16 hex digits: unique enough to find a request in the logs.
    static func make() -> String {
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
