import Foundation

/// Typed, tracked access to a ``ConfFile``: every key read is checked off, so what is left at
/// the end is a key nobody knows — a typo, reported with its line.
struct ConfReader {
    let file: ConfFile
    private var unread: [String: ConfFile.Entry]

    init(file: ConfFile) {
        self.file = file
        self.unread = Dictionary(uniqueKeysWithValues: file.entries.map { ($0.qualifiedKey, $0) })
    }

    func error(_ section: String, _ key: String, _ message: String) -> ConfigError {
        let qualified = "\(section).\(key)"
        let line = file.entries.first { $0.qualifiedKey == qualified }?.line
        return ConfigError(file: file.path, line: line, key: qualified, message: message)
    }

    /// Names `x` for every section `[prefix.x]` present in the file.
    func subsections(of prefix: String) -> [String] {
        var names: [String] = []
        for entry in file.entries where entry.section.hasPrefix(prefix + ".") {
            let name = String(entry.section.dropFirst(prefix.count + 1))
            if !names.contains(name) { names.append(name) }
        }
        return names
    }

    private mutating func take(_ section: String, _ key: String) -> ConfFile.Entry? {
        unread.removeValue(forKey: "\(section).\(key)")
    }

    private func mismatch(_ entry: ConfFile.Entry, expected: String) -> ConfigError {
        ConfigError(file: file.path, line: entry.line, key: entry.qualifiedKey,
                    message: "expected \(expected), found \(entry.value.typeName) \(entry.value)")
    }

    mutating func string(_ section: String, _ key: String) throws(ConfigError) -> String? {
        guard let entry = take(section, key) else { return nil }
        guard case .string(let value) = entry.value else { throw mismatch(entry, expected: "quoted text") }
        return value
    }

    /// A text value checked (and converted) by `parse`, whose message names what is wrong; the
    /// same `parse` checks the matching environment variable.
    mutating func string<T>(_ section: String, _ key: String,
                            _ parse: (String) throws(ConfValue.ParseError) -> T) throws(ConfigError) -> T? {
        guard let text = try string(section, key) else { return nil }
        do { return try parse(text) } catch { throw self.error(section, key, error.message) }
    }

    mutating func integer(_ section: String, _ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let entry = take(section, key) else { return nil }
        guard case .integer(let value) = entry.value else { throw mismatch(entry, expected: "an integer") }
        guard range.contains(value) else {
            throw ConfigError(file: file.path, line: entry.line, key: entry.qualifiedKey,
                              message: "must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
        }
        return value
    }

    mutating func boolean(_ section: String, _ key: String) throws(ConfigError) -> Bool? {
        guard let entry = take(section, key) else { return nil }
        guard case .boolean(let value) = entry.value else { throw mismatch(entry, expected: "true or false") }
        return value
    }

    mutating func duration(_ section: String, _ key: String) throws(ConfigError) -> Duration? {
        guard let entry = take(section, key) else { return nil }
        guard case .duration(let value) = entry.value else {
            throw mismatch(entry, expected: "a duration such as 500ms, 30s, 5m, 2h or 7d")
        }
        return value
    }

    func rejectUnread() throws(ConfigError) {
        guard let first = unread.values.min(by: { $0.line < $1.line }) else { return }
        throw ConfigError(file: file.path, line: first.line, key: first.qualifiedKey, message: "unknown key")
    }
}
