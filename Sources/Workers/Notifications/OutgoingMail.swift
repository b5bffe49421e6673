/// One message for one recipient, as the SMTP server will see it.
public struct OutgoingMail: Sendable, Equatable {
    /// Envelope sender and recipient: bare addresses.
    public var sender: String
    public var recipient: String
    /// The whole RFC 5322 message: headers, a blank line, the body.
    public var message: String

    public init(sender: String, recipient: String, message: String) {
        self.sender = sender
        self.recipient = recipient
        self.message = message
    }
}
