/// A way to reach a user. Raw values are the stored strings. (Not named `Channel`, which every
/// file importing NIO, PostgresNIO or Hummingbird would find ambiguous.)
public enum NotificationChannel: String, Sendable, Codable, CaseIterable, Hashable {
    case email
    case sms
    case push
    case inApp = "in_app"

    /// What a waitlist entry uses when the user names no channels.
    public static let waitlistDefault: [NotificationChannel] = [.email, .inApp]

    /// What a notice that names no channels goes out on: in-app and email, and SMS when the user
    /// has a phone number.
    public static func defaults(hasPhone: Bool) -> [NotificationChannel] {
        hasPhone ? [.inApp, .email, .sms] : [.inApp, .email]
    }
}
