/// How a notification's delivery looks to its user: a stable status and a reason in plain
/// words, never the technical error (SMTP hosts, user names, TLS failures), which stays on
/// the row's `last_error` and in the job's errors for operators.
public struct DeliveryReport: Sendable, Equatable {
    /// `pending`, `retrying`, `sent`, `delivered`, `read`, `failed` or `not_sent`: a contract.
    public var status: String
    /// Why it failed, is late or was not sent; `nil` when there is nothing to explain.
    public var reason: String?

    /// The skip reason recorded when an SMS goes to a user with no phone number: the one
    /// reason a user can act on.
    public static let noPhoneNumber = "the user has no phone number"

    public init(status: String, reason: String?) {
        self.status = status
        self.reason = reason
    }

    /// The report for `notification`, decided from its status, channel and whether an error
    /// was recorded.
    public init(_ notification: UserNotification) {
        let what = switch notification.type {
        case .email: "this email"
        case .sms: "this text message"
        case .push: "this push notification"
        case .inApp: "this notification"
        }
        switch notification.status {
        case .queued where notification.lastError != nil:
            self.init(status: "retrying", reason: "Delivery of \(what) is delayed; we will keep trying.")
        case .queued: self.init(status: "pending", reason: nil)
        case .sent: self.init(status: "sent", reason: nil)
        case .delivered: self.init(status: "delivered", reason: nil)
        case .read: self.init(status: "read", reason: nil)
        case .failed:
            let target = notification.type == .sms ? "your phone number" : "your address"
            self.init(status: "failed", reason: "We could not deliver \(what) to \(target).")
        case .skipped where notification.lastError == Self.noPhoneNumber:
            self.init(status: "not_sent", reason: "No phone number is on file for your account.")
        case .skipped:
            self.init(status: "not_sent", reason: "This channel is not available at the moment.")
        }
    }
}
