import Foundation

/// Field rules shared by creation and edits, matching the table's CHECKs so bad input gets a
/// message naming the field rather than a constraint name.
public enum EventRules {
    public static let maximumPrice = Decimal(999_999_999_999) / 100
    /// The most `numeric(12,2)` holds: no booking's total may pass it.
    public static let maximumAmount = Decimal(999_999_999_999) / 100
    /// Names and venues: at most this many characters.
    public static let maximumNameLength = 500

    static func checkName(_ value: String, field: String) throws(BookingError) {
        if value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidInput(field: field, reason: "must not be empty")
        }
        if value.count > maximumNameLength {
            throw .invalidInput(field: field, reason: "must be at most \(maximumNameLength) characters")
        }
        // NUL cannot be stored in text; other control characters end up in mail headers and SMS.
        if value.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) {
            throw .invalidInput(field: field, reason: "must not contain control characters")
        }
    }

    static func checkCapacity(_ capacity: Int) throws(BookingError) {
        if capacity <= 0 { throw .invalidInput(field: "capacity", reason: "must be at least 1") }
        if capacity > Int(Int32.max) { throw .invalidInput(field: "capacity", reason: "must be at most \(Int32.max)") }
    }

    static func checkPrice(_ price: Decimal) throws(BookingError) {
        if price.isNaN || price < 0 { throw .invalidInput(field: "price", reason: "must not be negative") }
        if price > maximumPrice { throw .invalidInput(field: "price", reason: "must be at most \(maximumPrice)") }
        if Money.roundedToCents(price) != price {
            throw .invalidInput(field: "price", reason: "must have at most two decimal places")
        }
    }
}
