import Foundation

extension RawRepresentable where RawValue == String {
    /// Decodes a stored enum value, naming the type and the value when it is unknown.
    init(stored value: String) throws {
        guard let decoded = Self(rawValue: value) else {
            throw StoredValueError(description: "unknown \(Self.self) '\(value)' in the database")
        }
        self = decoded
    }
}
