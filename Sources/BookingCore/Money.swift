import Foundation

/// Rounding of money amounts (`numeric(12,2)` in the database).
enum Money {
    /// Rounds half away from zero to two decimal places, as a cashier would.
    static func roundedToCents(_ amount: Decimal) -> Decimal {
        var value = amount
        var result = Decimal()
        NSDecimalRound(&result, &value, 2, .plain)
        return result
    }
}
