import Foundation

/// How notifications leave the building, from jobs.conf `[smtp]`, `[sms]` and `[notifications]`.
/// A channel with no server configured is off: its notifications are marked skipped, not retried.
public struct DeliverySettings: Sendable {
    public var smtp = SMTPSettings()
    public var sms = SMSSettings()
    /// Before each event, every confirmed booking gets one reminder per offset.
    public var reminderOffsets: [Duration] = [.seconds(86_400), .seconds(3_600)]
    /// Notifications older than this are deleted by `notifications.prune`.
    public var notificationRetention: Duration = .seconds(90 * 86_400)

    public init() {}
}
