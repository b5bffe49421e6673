import Foundation
import HTTPTypes
import Hummingbird

/// An error the intake answers with, as `{"error": {"code", "message", "field"?}}`.
struct APIError: HTTPResponseError, Equatable {
    var status: HTTPResponse.Status
    /// A stable, machine-readable code such as `sold_out` or `invalid_field`.
    var code: String
    var message: String
    /// The request field at fault, when there is one.
    var field: String?
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        try JSONResponse.make(Body(error: .init(code: code, message: message, field: field)), status: status, headers: headers)
    }

    /// The wire shape: `{"error": {"code", "message", "field"?}}`.
    private struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Detail
    }

    static func badRequest(_ message: String, field: String? = nil) -> APIError {
        APIError(.badRequest, "invalid_request", message, field: field)
    }

    static func notFound(_ what: String) -> APIError {
        APIError(.notFound, "not_found", "\(what) not found")
    }
}
