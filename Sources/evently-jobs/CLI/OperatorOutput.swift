import Foundation

/// How operator commands print: JSON, RFC 3339 times and aligned tables.
enum OperatorOutput {
    /// `value` as the intake would send it, indented for people.
    static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONResponse.encoder(prettyPrinted: true).encode(value), as: UTF8.self)
    }

    static func time(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }

    static func table(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
