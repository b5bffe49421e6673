import Foundation

/// Field rules shared by creation and edits, matching the table's CHECKs so bad input gets a
/// message naming the field rather than a constraint name.
enum EventRules {
    static let maximumPrice = Decimal(999_999_999_999) / 100

    static func checkName(_ value: String, field: String) throws(BookingError) {
        if value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw .invalidInput(field: field, reason: "must not be empty")
        }
        if value.count > 500 { throw .invalidInput(field: field, reason: "must be at most 500 characters") }
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
