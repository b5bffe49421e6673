/// A capped count: `count` is exact unless `capped`, when there are more than `count`.
public struct JobCount: Sendable, Equatable, Codable {
    public var count: Int
    public var capped: Bool
}
