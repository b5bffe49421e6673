import Foundation

/// libesmtp speaks TLS only through STARTTLS. For servers that want TLS from the first byte
/// (SMTPS, port 465) a relay on loopback would wrap the connection; not built yet.
struct ImplicitTLSRelay {
    struct Unsupported: Error, CustomStringConvertible {
        var description: String { "implicit TLS (smtp.tls = \"tls\") is not supported yet; use \"starttls\"" }
    }

    let port: Int

    static func start(host: String, port: Int, caFile: String?, timeout: Duration) throws -> ImplicitTLSRelay {
        throw Unsupported()
    }

    func stop() {}
}
