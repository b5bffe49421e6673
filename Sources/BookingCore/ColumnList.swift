import Foundation

/// A table's column list for SELECT and RETURNING, written once per store and qualified by a
/// table alias where a query joins: `columns()` or `columns("b")`.
struct ColumnList: Sendable {
    let columns: [String]

    /// - Parameter list: comma-separated column expressions, e.g. `"id, total_amount::text"`.
    init(_ list: String) {
        columns = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    func callAsFunction(_ alias: String = "") -> String {
        (alias.isEmpty ? columns : columns.map { "\(alias).\($0)" }).joined(separator: ", ")
    }
}
