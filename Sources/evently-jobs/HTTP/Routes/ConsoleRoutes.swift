import Foundation
import HTTPTypes
import Hummingbird

/// `/console`: the operators' web page, embedded in the binary (works offline, no build step).
/// It holds no data: it signs in with a bearer token and reads the operator API like any client.
struct ConsoleRoutes: Sendable {
    /// Only our own files, no inline script or style, no framing: a page that holds an
    /// operator's token must not run anyone else's code.
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    func add(to router: some RouterMethods<IntakeContext>) {
        router.get("/console") { _, _ in
            Self.file(PackageResources.console_html, type: "text/html; charset=utf-8")
        }
        router.get("/console/console.js") { _, _ in
            Self.file(PackageResources.console_js, type: "text/javascript; charset=utf-8")
        }
        router.get("/console/console.css") { _, _ in
            Self.file(PackageResources.console_css, type: "text/css; charset=utf-8")
        }
    }

    static func file(_ bytes: [UInt8], type: String) -> Response {
        var headers: HTTPFields = [:]
        headers[.contentType] = type
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "no-referrer"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
