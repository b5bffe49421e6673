import BookingCore
import Foundation

extension Money {
    /// Parses "49.90" (a string, so no binary floating point touches money).
    static func parse(_ text: String, field: String) throws -> Decimal {
        guard text.range(of: #"^[0-9]{1,10}(\.[0-9]{1,2})?$"#, options: .regularExpression) != nil,
              let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw APIError.badRequest("'\(field)' must be a decimal string such as \"49.90\"", field: field)
        }
        return value
    }
}
