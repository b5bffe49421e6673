import Foundation

/// A use case's result and the follow-up work it implies.
public struct Outcome<Value: Sendable>: Sendable {
    public var value: Value
    public var followUps: [FollowUp]

    public init(_ value: Value, followUps: [FollowUp] = []) {
        self.value = value
        self.followUps = followUps
    }
}

extension Outcome: Equatable where Value: Equatable {}
