/// Why a cron expression or its time zone was refused.
///
/// `description` names the part that was wrong and why, for example
/// `minute: 61 is out of range 0-59`, `expression: expected 5 fields, found 4` or
/// `time zone: unknown time zone 'Mars/Base'`. The caller adds the schedule's name and the
/// configuration file's position.
public struct CronExpressionError: Error, Equatable, CustomStringConvertible {
    /// The part that was wrong: `"minute"`, `"hour"`, `"day of month"`, `"month"`,
    /// `"day of week"`, `"time zone"` or `"expression"` (the text as a whole, a macro or an
    /// `@every` interval); `nil` only when no part can be named.
    public var field: String?
    /// The offending text: a field item such as `61` or `*/0`, the whole expression, an
    /// interval, or a time zone identifier.
    public var value: String
    /// What is wrong with `value`, as one phrase that includes it.
    public var reason: String

    /// Makes an error; `description` will read `field: reason`.
    public init(field: String?, value: String, reason: String) {
        self.field = field
        self.value = value
        self.reason = reason
    }

    /// `field: reason`, e.g. `minute: 61 is out of range 0-59`; just the reason without a field.
    public var description: String {
        guard let field else { return reason }
        return "\(field): \(reason)"
    }
}
