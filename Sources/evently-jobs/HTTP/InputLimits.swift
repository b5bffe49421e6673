import BookingCore
import Foundation

/// Every bound the intake puts on what a client sends, in one place; the README's "Limits"
/// table and `openapi.json` (`maxLength`, `minimum`, `maximum`, `pattern`) say the same.
///
/// A value outside these is a 400 naming the field, before anything reaches the database:
/// PostgreSQL cannot store a NUL in `text` or `jsonb`, an `integer` column stops at 2^31 - 1,
/// and `numeric(12,2)` at 9,999,999,999.99, and each of those would otherwise be a 500.
enum InputLimits {
    /// Job kinds and queue names: they become metric labels and log fields.
    static let identifierPattern = #"^[a-z0-9][a-z0-9._-]{0,63}$"#
    static let identifierMaxLength = 64
    /// `jobs.priority` is an `integer`; lower runs first.
    static let priority = Int(Int32.min)...Int(Int32.max)
    /// `jobs.max_attempts`: at least one, and a retry budget a person can reason about.
    static let maxAttempts = 1...1_000
    /// `jobs.unique_key`, kept in a b-tree index.
    static let uniqueKeyMaxLength = 255
    /// The `Idempotency-Key` header of `POST /v1/bookings`.
    static let idempotencyKeyMaxLength = 200
    /// Event names and venues (as ``EventRules`` checks them in BookingCore).
    static let nameMaxLength = EventRules.maximumNameLength
    /// `events.total_capacity` is an `integer`.
    static let capacity = 1...Int(Int32.max)
    /// Dates a client may send (`starts_at`, `run_at`, analytics `from`/`to`).
    static let earliestDate = date(year: 2000)
    static let latestDate = date(year: 2200)
    /// What an SMS provider's status callback names (message id, status word, error code).
    static let providerFieldMaxLength = 255
    /// Waitlist `channels`: each channel at most once.
    static let channelCount = 1...4
    /// Every list: `limit` is 1 to this.
    static let pageSize = 1...200
    /// The longest `cursor` a list accepts (they are far shorter).
    static let cursorMaxLength = 200
    /// Every header of a request together (names and values), and the request line's target.
    static let headerBytes = 16 * 1024
    /// The largest amount `numeric(12,2)` holds: a booking's total may not pass it.
    static let maximumAmount = EventRules.maximumAmount

    private static func date(year: Int) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: 1, day: 1))!
    }

    /// 400 unless `text` matches ``identifierPattern``.
    static func checkIdentifier(_ text: String, field: String) throws(APIError) {
        guard text.utf8.count <= identifierMaxLength,
              text.range(of: identifierPattern, options: .regularExpression) != nil else {
            throw APIError.badRequest("'\(field)' must be 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit",
                                      field: field)
        }
    }

    /// 400 unless `text` is at most `maxLength` characters without control characters.
    static func checkText(_ text: String, field: String, maxLength: Int) throws(APIError) {
        guard text.count <= maxLength else {
            throw APIError.badRequest("'\(field)' must be at most \(maxLength) characters", field: field)
        }
        guard !containsControlCharacters(text) else {
            throw APIError.badRequest("'\(field)' must not contain control characters", field: field)
        }
    }

    /// Whether `text` holds a C0 or C1 control character or DEL (NUL among them).
    static func containsControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// 400 unless `value` is within `range`.
    static func checkInteger(_ value: Int, in range: ClosedRange<Int>, field: String) throws(APIError) {
        guard range.contains(value) else {
            throw APIError.badRequest("'\(field)' must be between \(range.lowerBound) and \(range.upperBound)", field: field)
        }
    }

    /// 400 unless `date` is from 2000 to 2200 (UTC).
    static func checkDate(_ date: Date, field: String) throws(APIError) {
        guard date >= earliestDate, date < latestDate else {
            throw APIError.badRequest("'\(field)' must be a time from the year 2000 to 2199", field: field)
        }
    }

    /// The highest base price at which `maxQuantity` seats at the top pricing tier still fit
    /// ``maximumAmount``, rounded down to cents.
    static func maximumPrice(maxQuantity: Int, pricing: PricingPolicy) -> Decimal {
        let top = pricing.tiers.map(\.multiplier).max() ?? 1
        var exact = maximumAmount / (Decimal(max(1, maxQuantity)) * top)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &exact, 2, .down)
        return min(rounded, EventRules.maximumPrice)
    }
}
