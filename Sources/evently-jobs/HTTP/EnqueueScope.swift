import Foundation

/// Which job kinds `POST /v1/jobs` may enqueue: the `[http] enqueue_kinds` patterns (`*`
/// matches any run of characters), never the internal kinds, whatever the configuration says.
///
/// Internal kinds carry ids that their workers trust (a notice names a user and a booking; a
/// delivery names a notification row), so whoever could enqueue them could send official
/// messages to anyone. They are enqueued only by the daemon itself, inside the transaction of
/// the change that implies them.
struct EnqueueScope: Sendable {
    /// Patterns of the kinds HTTP may enqueue.
    let patterns: [String]

    /// The default of `[http] enqueue_kinds`: the smoke-test kinds and rebuilding a report.
    static let defaultPatterns = ["diag.*", "report.build"]

    /// Kinds (or `prefix.*` families) no configuration can open to HTTP.
    static let internalKinds = ["notifications.dispatch", "email.send", "sms.send", "waitlist.*", "reminders.*"]

    /// Whether `kind` may be enqueued over HTTP.
    func allows(_ kind: String) -> Bool {
        if Self.internalKinds.contains(where: { Self.matches(kind, $0) }) { return false }
        return patterns.contains { Self.matches(kind, $0) }
    }

    /// Glob match with `*` as the only wildcard (any run of characters, including dots).
    static func matches(_ kind: String, _ pattern: String) -> Bool {
        let pieces = pattern.split(separator: "*", omittingEmptySubsequences: false)
        guard pieces.count > 1 else { return kind == pattern }
        var rest = Substring(kind)
        guard rest.hasPrefix(pieces[0]) else { return false }
        rest = rest.dropFirst(pieces[0].count)
        for piece in pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let found = rest.range(of: piece) else { return false }
            rest = rest[found.upperBound...]
        }
        let last = pieces[pieces.count - 1]
        return rest.count >= last.count && rest.hasSuffix(last)
    }
}
