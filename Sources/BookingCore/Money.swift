import Foundation

/// Rounding of money amounts (`numeric(12,2)` in the database).
public enum Money {
    /// Rounds half away from zero to two decimal places, as a cashier would.
    public static func roundedToCents(_ amount: Decimal) -> Decimal {
        var value = amount
        var result = Decimal()
        NSDecimalRound(&result, &value, 2, .plain)
        return result
    }

    /// A decimal amount as text with two decimals, e.g. "49.90" (what the API and messages show).
    public static func text(_ amount: Decimal) -> String {
        var value = amount
        var rounded = Decimal()
        NSDecimalRound(&rounded, &value, 2, .bankers)
        let formatter = NumberFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.minimumFractionDigits = 2
        formatter.maximumFractionDigits = 2
        formatter.usesGroupingSeparator = false
        return formatter.string(from: rounded as NSDecimalNumber) ?? "\(rounded)"
    }
}
