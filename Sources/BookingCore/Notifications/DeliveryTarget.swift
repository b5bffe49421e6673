/// A notification and where its user can be reached now.
public struct DeliveryTarget: Sendable {
    public var notification: UserNotification
    public var email: String
    public var phone: String?
}
