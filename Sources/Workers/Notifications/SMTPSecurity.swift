/// How the SMTP connection is protected. Raw values are what jobs.conf and `EVENTLY_SMTP_TLS` take.
public enum SMTPSecurity: String, Sendable, CaseIterable {
    /// Plain SMTP, never STARTTLS (loopback relays, tests).
    case off
    /// STARTTLS when the server offers it, plain otherwise.
    case opportunistic
    /// STARTTLS or no session.
    case starttls
    /// TLS from the first byte (SMTPS, usually port 465).
    case tls
}
