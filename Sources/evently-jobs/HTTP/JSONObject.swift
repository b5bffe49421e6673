import Foundation

/// Any JSON object, kept as text (job arguments pass through untouched).
struct JSONObject: Decodable, Sendable {
    var text: String

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(JSONValue.self)
        guard case .object = value else {
            throw DecodingError.typeMismatch([String: JSONValue].self, .init(codingPath: decoder.codingPath, debugDescription: "expected an object"))
        }
        text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
}
