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
