import Foundation

extension Decimal {
    /// Parses `numeric::text` exactly. Money crosses the wire as text in both directions: the text
    /// form of `numeric` is exact and does not depend on the driver's binary numeric coding.
    init(numericText text: String) throws {
        guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw StoredValueError(description: "'\(text)' is not a number")
        }
        self = value
    }

    /// The text to bind with a `::numeric` cast.
    var numericText: String { "\(self)" }
}
