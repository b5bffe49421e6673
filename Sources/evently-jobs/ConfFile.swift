import Foundation

/// A parsed `jobs.conf`: `[section]` headers, `key = value` lines and `#` comments.
///
/// Values are typed by how they are written: `"text"` or `'literal text'` (strings), `42`
/// (integers), `true`/`false`, and durations such as `250ms`, `30s`, `5m`, `2h`, `7d`. Keeping the
/// format this small lets every error name the file, line and key.
struct ConfFile: Sendable {
    struct Entry: Sendable {
        var section: String
        var key: String
        var value: ConfValue
        var line: Int
        var qualifiedKey: String { section.isEmpty ? key : "\(section).\(key)" }
    }

    var path: String
    var entries: [Entry]

    init(path: String, text: String) throws(ConfigError) {
        self.path = path
        var entries: [Entry] = []
        var section = ""
        var seen: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = Self.stripComment(String(rawLine)).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw ConfigError(file: path, line: lineNumber, key: nil, message: "a section header looks like [name]")
                }
                section = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                guard section.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) else {
                    throw ConfigError(file: path, line: lineNumber, key: nil, message: "bad section name [\(section)]")
                }
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigError(file: path, line: lineNumber, key: nil, message: "expected 'key = value', found '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let rawValue = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let entryKey = section.isEmpty ? key : "\(section).\(key)"
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ConfigError(file: path, line: lineNumber, key: nil, message: "bad key name '\(key)'")
            }
            if let previous = seen[entryKey] {
                throw ConfigError(file: path, line: lineNumber, key: entryKey, message: "set twice (first on line \(previous))")
            }
            seen[entryKey] = lineNumber
            let value: ConfValue
            do { value = try ConfValue(parsing: rawValue) } catch {
                throw ConfigError(file: path, line: lineNumber, key: entryKey, message: error.message)
            }
            entries.append(Entry(section: section, key: key, value: value, line: lineNumber))
        }
        self.entries = entries
    }

    /// Removes a `#` comment that is not inside a quoted string.
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var escaped = false
        for (offset, character) in line.enumerated() {
            if escaped { escaped = false; continue }
            if quote == "\"" && character == "\\" { escaped = true; continue }
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "\"" || character == "'" {
                quote = character
            } else if character == "#" {
                return String(line.prefix(offset))
            }
        }
        return line
    }
}

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

/// A configuration problem, naming where it is so an operator can fix it at once.
struct ConfigError: Error, CustomStringConvertible, Equatable {
    var file: String
    var line: Int?
    var key: String?
    var message: String

    var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let key { return "\(location): \(key): \(message)" }
        return "\(location): \(message)"
    }
}
