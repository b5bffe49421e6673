/// How long a delivery attempt's sending mark keeps every other attempt from sending the same
/// notification: long enough for the attempt to start its provider session, for the longest
/// session it can have, and for recording the outcome afterwards.
///
/// A rescued attempt cannot tell a crashed attempt from one that is still talking to the
/// provider (libesmtp cannot be stopped once it started; a lost lease says nothing about the
/// session), so it waits out the whole window before it sends. That is the price after a crash.
public struct SendingWindow: Sendable, Equatable {
    /// The longest one provider session can go on.
    public var session: Duration

    /// A session not started this long after its mark is not started at all (every mail thread
    /// busy with slow servers): the attempt fails for now, having sent nothing.
    public static let startWithin: Duration = .seconds(10)
    /// Left after the longest session for the `sent` mark, retried until the window ends.
    public static let recordWithin: Duration = .seconds(30)

    public init(session: Duration) {
        self.session = session
    }

    public var total: Duration { Self.startWithin + session + Self.recordWithin }

    /// How long an attempt that found another's mark waits before it looks again: the marking
    /// attempt usually ends long before its window, and its `sent` mark then ends the wait.
    public func recheck(remaining: Duration) -> Duration {
        max(.milliseconds(200), min(remaining, max(.seconds(1), total / 20)))
    }
}

extension SMTPSettings {
    /// The most server replies one session waits for, each up to ``timeout``: connecting
    /// (counted as two: libesmtp's `connect()` has no timeout of its own), the greeting, EHLO and
    /// a HELO fallback, STARTTLS with its handshake and second EHLO, three for AUTH LOGIN, MAIL,
    /// RCPT, DATA, two writes of the message, the reply to its end, and QUIT.
    public static let longestSessionReplies = 18
    /// What each further message of a session adds: MAIL, RCPT, DATA, two writes of the
    /// message and the reply to its end.
    public static let repliesPerFurtherMessage = 6

    /// libesmtp bounds each reply, not the session; this bounds the session by the replies of
    /// the longest session: a message may ride last in a full one.
    public var sendingWindow: SendingWindow {
        let replies = Self.longestSessionReplies + Self.repliesPerFurtherMessage * (max(1, messagesPerSession) - 1)
        return SendingWindow(session: timeout * replies)
    }
}

extension SMSSettings {
    /// The request's timeout covers the whole exchange, connecting included.
    public var sendingWindow: SendingWindow { SendingWindow(session: timeout) }
}
