/// A message as every channel shows it, stored in `notifications.content` under the keys below.
public struct RenderedMessage: Sendable, Equatable {
    /// One line: the email subject, the in-app title (`subject`).
    public var subject: String
    /// A few sentences: the SMS text and the in-app text (`body`).
    public var body: String
    /// The email's plain-text body: the same sentences with a greeting and the details (`email_body`).
    public var emailBody: String

    public init(subject: String, body: String, emailBody: String) {
        self.subject = subject
        self.body = body
        self.emailBody = emailBody
    }

    /// The `notifications.content` keys the text is stored under.
    public enum ContentKey {
        public static let subject = "subject"
        public static let body = "body"
        public static let emailBody = "email_body"
    }

    /// The stored text of a notification row. A row written before `email_body` existed mails
    /// its `body`; one without text (another writer's) has a generic subject.
    public init(content: [String: String]) {
        let body = content[ContentKey.body] ?? ""
        self.init(subject: content[ContentKey.subject] ?? "Evently", body: body,
                  emailBody: content[ContentKey.emailBody] ?? body)
    }

    /// The text as content entries, to store beside the facts.
    public var content: [String: String] {
        [ContentKey.subject: subject, ContentKey.body: body, ContentKey.emailBody: emailBody]
    }
}
