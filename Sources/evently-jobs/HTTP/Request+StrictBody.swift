import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

extension Request {
    /// Decodes a JSON object body strictly: JSON content type (415), at most the context's
    /// upload size (413), well-formed (400 `malformed_json`), no unknown fields (400
    /// `unknown_field`), each key once (400 `duplicate_key`), no NUL anywhere (400
    /// `invalid_field`: PostgreSQL stores none), right types (400 `invalid_field`, naming the field).
    func decodeStrict<Body: StrictBody>(_ type: Body.Type, context: IntakeContext) async throws -> Body {
        let contentType = headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw APIError(.unsupportedMediaType, "unsupported_media_type", "send the body as application/json")
        }
        var body = self.body
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch {
            throw APIError(.contentTooLarge, "body_too_large", "the request body is larger than \(context.maxUploadSize) bytes")
        }
        let data = Data(buffer.readableBytesView)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw APIError(.badRequest, "malformed_json", "the body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw APIError(.badRequest, "malformed_json", "the body must be a JSON object")
        }
        if let unknown = object.keys.sorted().first(where: { !Body.fields.contains($0) }) {
            throw APIError(.badRequest, "unknown_field", "unknown field '\(unknown)'", field: unknown)
        }
        if let duplicate = DuplicateKeyScanner.firstDuplicate(in: data) {
            throw APIError(.badRequest, "duplicate_key", "'\(duplicate)' appears more than once", field: duplicate)
        }
        if let field = Self.pathHoldingNUL(object, path: "") {
            throw APIError(.badRequest, "invalid_field", "'\(field)' must not contain a NUL character", field: field)
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(Body.self, from: data)
        } catch let error as DecodingError {
            throw Self.describe(error)
        }
    }

    /// The path of the first string (or key) in `value` that holds U+0000.
    static func pathHoldingNUL(_ value: Any, path: String) -> String? {
        func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        switch value {
        case let text as String:
            return text.unicodeScalars.contains("\0") ? path : nil
        case let object as [String: Any]:
            for key in object.keys.sorted() {
                if key.unicodeScalars.contains("\0") { return child(key) }
                if let found = pathHoldingNUL(object[key]!, path: child(key)) { return found }
            }
            return nil
        case let array as [Any]:
            for (index, element) in array.enumerated() {
                if let found = pathHoldingNUL(element, path: child(String(index))) { return found }
            }
            return nil
        default:
            return nil
        }
    }

    static func describe(_ error: DecodingError) -> APIError {
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            (context.codingPath + (key.map { [$0] } ?? [])).map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context, key)
            return APIError(.badRequest, "missing_field", "'\(field)' is required", field: field)
        case .typeMismatch(let type, let context):
            let field = path(context)
            return APIError(.badRequest, "invalid_field", "'\(field)' must be \(Self.name(of: type))", field: field)
        case .valueNotFound(let type, let context):
            let field = path(context)
            return APIError(.badRequest, "invalid_field", "'\(field)' must be \(Self.name(of: type)), not null", field: field)
        case .dataCorrupted(let context):
            let field = path(context)
            return APIError(.badRequest, "invalid_field", "'\(field)': \(context.debugDescription)", field: field.isEmpty ? nil : field)
        @unknown default:
            return APIError(.badRequest, "invalid_request", "the body does not match what this route expects")
        }
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Double.Type, is Decimal.Type: "a number"
        case is Bool.Type: "true or false"
        case is Date.Type: "an RFC 3339 time"
        default: "\(type)".lowercased().hasPrefix("dictionary") ? "an object" : "a \(type)"
        }
    }
}
