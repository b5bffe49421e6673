import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The one way the intake writes JSON: keys sorted, dates as RFC 3339 (UTC, whole seconds).
///
/// Response bodies spell their own snake_case keys, carry money as decimal strings
/// (`Money.text`) and ids as lowercase UUIDs (`UUID.lowercased`), so nothing here converts names.
enum JSONResponse {
    /// A fresh encoder with the intake's settings; `prettyPrinted` for what people read (the CLI).
    static func encoder(prettyPrinted: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = prettyPrinted ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// `value` as an `application/json` response.
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers,
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder().encode(value))))
    }
}
