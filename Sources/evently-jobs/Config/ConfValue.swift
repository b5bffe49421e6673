import Foundation

/// A typed configuration value.
enum ConfValue: Sendable, Equatable, CustomStringConvertible {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case duration(Duration)

    struct ParseError: Error { var message: String }

    init(parsing raw: String) throws(ParseError) {
        if raw.isEmpty { throw ParseError(message: "missing value after '='") }
        if raw.hasPrefix("'") {
            guard raw.count >= 2, raw.hasSuffix("'"), !raw.dropFirst().dropLast().contains("'") else {
                throw ParseError(message: "unterminated string \(raw)")
            }
            self = .string(String(raw.dropFirst().dropLast()))
            return
        }
        if raw.hasPrefix("\"") {
            var result = ""
            var escaped = false
            var closed = false
            for character in raw.dropFirst() {
                if closed { throw ParseError(message: "unexpected text after the closing quote in \(raw)") }
                if escaped {
                    switch character {
                    case "n": result.append("\n")
                    case "t": result.append("\t")
                    case "\"", "\\": result.append(character)
                    default: throw ParseError(message: "unknown escape \\\(character) in \(raw)")
                    }
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    closed = true
                } else {
                    result.append(character)
                }
            }
            guard closed else { throw ParseError(message: "unterminated string \(raw)") }
            self = .string(result)
            return
        }
        if raw == "true" { self = .boolean(true); return }
        if raw == "false" { self = .boolean(false); return }
        if let integer = Int(raw.replacingOccurrences(of: "_", with: "")) { self = .integer(integer); return }
        if let duration = Self.parseDuration(raw) { self = .duration(duration); return }
        throw ParseError(message: "cannot read \(raw): quote text (\"...\"), or write a number, true/false or a duration like 30s")
    }

    static func parseDuration(_ raw: String) -> Duration? {
        let units: [(String, Duration)] = [
            ("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600)), ("d", .seconds(86_400)),
        ]
        for (suffix, unit) in units where raw.hasSuffix(suffix) {
            guard let count = Int(raw.dropLast(suffix.count)), count >= 0 else { return nil }
            return unit * count
        }
        return nil
    }

    var typeName: String {
        switch self {
        case .string: "text"
        case .integer: "an integer"
        case .boolean: "true or false"
        case .duration: "a duration"
        }
    }

    var description: String {
        switch self {
        case .string(let text): "\"\(text)\""
        case .integer(let value): "\(value)"
        case .boolean(let value): "\(value)"
        case .duration(let value): "\(value)"
        }
    }
}
