import Foundation
import HTTPTypes
import Hummingbird

/// One page of a list: `?limit=` (1 to 200) and `?cursor=` (opaque, from the previous page).
///
/// The body stays the JSON array it always was; when more rows follow, the answer carries
/// `Link: </v1/...?limit=N&cursor=C>; rel="next"` (RFC 8288) and `X-Next-Cursor: C`. A list is
/// read with one row more than asked for, which says whether there is a next page.
struct Page: Sendable {
    var limit: Int
    var offset: Int

    /// The furthest a cursor may point (a client walking further should narrow its query).
    static let maximumOffset = 10_000_000

    /// The page `request` asks for; 400 naming `limit` or `cursor` when they are bad.
    init(_ request: Request, defaultLimit: Int, maximumLimit: Int = InputLimits.pageSize.upperBound) throws(APIError) {
        let query = request.uri.queryParameters
        limit = try Page.limit(request, defaultLimit: defaultLimit, maximumLimit: maximumLimit)
        offset = 0
        if let text = query.get("cursor") {
            guard let value = Self.decode(cursor: text) else {
                throw APIError.badRequest("'cursor' must be the X-Next-Cursor of a previous page", field: "cursor")
            }
            offset = value
        }
    }

    /// `?limit=`, 400 naming it unless it is 1 to `maximumLimit`.
    static func limit(_ request: Request, defaultLimit: Int, maximumLimit: Int) throws(APIError) -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return defaultLimit }
        guard text.count <= 6, let value = Int(text), (1...maximumLimit).contains(value) else {
            throw APIError.badRequest("'limit' must be 1 to \(maximumLimit)", field: "limit")
        }
        return value
    }

    /// How many rows to read: one more than the page holds.
    var fetchLimit: Int { limit + 1 }

    /// The first `limit` of `rows` (read with ``fetchLimit``) as the JSON array answer, with the
    /// next page's link when there are more.
    func respond<T: Encodable>(_ rows: [T], request: Request) throws -> Response {
        var headers: HTTPFields = [:]
        if rows.count > limit {
            let cursor = Self.encode(offset: offset + limit)
            headers[.link] = "<\(Self.link(request, cursor: cursor))>; rel=\"next\""
            headers[.nextCursor] = cursor
        }
        return try JSONResponse.make(Array(rows.prefix(limit)), headers: headers)
    }

    static func encode(offset: Int) -> String {
        base64URL("o\(offset)")
    }

    static func decode(cursor: String) -> Int? {
        guard let text = text(ofCursor: cursor), text.first == "o", let offset = Int(text.dropFirst()),
              (0...maximumOffset).contains(offset), encode(offset: offset) == cursor else { return nil }
        return offset
    }

    /// `text` as unpadded base64url: safe in a query string and a header as it is.
    static func base64URL(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// What a cursor says, or nil when it is not one of ours.
    static func text(ofCursor cursor: String) -> String? {
        guard cursor.count <= InputLimits.cursorMaxLength else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return String(data: data, encoding: .utf8)
    }

    /// The request's path and query with `cursor` replaced.
    static func link(_ request: Request, cursor: String) -> String {
        var components = URLComponents()
        components.path = request.uri.path
        var items = request.uri.queryParameters.filter { $0.key != "cursor" }
            .map { URLQueryItem(name: String($0.key), value: String($0.value)) }
        items.append(URLQueryItem(name: "cursor", value: cursor))
        components.queryItems = items
        return components.string ?? request.uri.path
    }
}

/// One page of a list read by keyset: `?limit=` as ``Page``, and `?cursor=` naming the last id
/// of the previous page, so rows added meanwhile (newer, above it) shift nothing, and a page
/// reads one index range however deep it is. Same headers as ``Page``; its cursors are not
/// interchangeable with offset cursors (each refuses the other's).
struct KeysetPage: Sendable {
    var limit: Int
    /// Rows below this id; nil on the first page.
    var before: Int64?

    init(_ request: Request, defaultLimit: Int, maximumLimit: Int = InputLimits.pageSize.upperBound) throws(APIError) {
        let query = request.uri.queryParameters
        limit = try Page.limit(request, defaultLimit: defaultLimit, maximumLimit: maximumLimit)
        if let text = query.get("cursor") {
            guard let value = Self.decode(cursor: text) else {
                throw APIError.badRequest("'cursor' must be the X-Next-Cursor of a previous page", field: "cursor")
            }
            before = value
        }
    }

    var fetchLimit: Int { limit + 1 }

    /// The first `limit` of `rows` (newest first, read with ``fetchLimit``) as the JSON array
    /// answer; when there are more, the cursor names the last row shown. A search that stopped
    /// at its time budget (`continueBelow`) answers fewer rows and a cursor that goes on below
    /// what it read.
    func respond<T: Encodable>(_ rows: [T], id: (T) -> Int64, request: Request, continueBelow: Int64? = nil) throws -> Response {
        var headers: HTTPFields = [:]
        if rows.count > limit || continueBelow != nil {
            let cursor = Self.encode(before: rows.count > limit ? id(rows[limit - 1]) : continueBelow!)
            headers[.link] = "<\(Page.link(request, cursor: cursor))>; rel=\"next\""
            headers[.nextCursor] = cursor
        }
        return try JSONResponse.make(Array(rows.prefix(limit)), headers: headers)
    }

    static func encode(before id: Int64) -> String {
        Page.base64URL("k\(id)")
    }

    static func decode(cursor: String) -> Int64? {
        guard let text = Page.text(ofCursor: cursor), text.first == "k", let id = Int64(text.dropFirst()), id > 0,
              encode(before: id) == cursor else { return nil }
        return id
    }
}
