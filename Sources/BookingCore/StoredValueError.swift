import Foundation

/// A row held a value the code does not know, which the schema's CHECKs should make impossible
/// (a newer binary wrote it, or someone edited the row by hand).
struct StoredValueError: Error, CustomStringConvertible {
    var description: String
}

extension RawRepresentable where RawValue == String {
    /// Decodes a stored enum value, naming the type and the value when it is unknown.
    init(stored value: String) throws {
        guard let decoded = Self(rawValue: value) else {
            throw StoredValueError(description: "unknown \(Self.self) '\(value)' in the database")
        }
        self = decoded
    }
}

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

/// JSON arrays of channels (`jsonb`) read as `channels::text`.
enum NotificationChannelList {
    static func decode(_ json: String) throws -> [NotificationChannel] {
        let names = try JSONDecoder().decode([String].self, from: Data(json.utf8))
        return try names.map { try NotificationChannel(stored: $0) }
    }

    static func encode(_ channels: [NotificationChannel]) -> String {
        "[" + channels.map { "\"\($0.rawValue)\"" }.joined(separator: ", ") + "]"
    }
}
