import Foundation

/// A row held a value the code does not know, which the schema's CHECKs should make impossible
/// (a newer binary wrote it, or someone edited the row by hand).
struct StoredValueError: Error, CustomStringConvertible {
    var description: String
}
