import Foundation

extension UUID {
    /// The RFC 4122 canonical text (lowercase), as ids appear in every response body.
    var lowercased: String { uuidString.lowercased() }
}
