import Foundation

/// A self-signed certificate for 127.0.0.1 and localhost (made with the openssl command), and
/// how a test server should speak TLS with it.
public struct TestTLS: Sendable {
    /// The certificate (PEM); also what a client trusts as its CA file.
    public let certificatePath: String
    public let keyPath: String
    /// TLS from the first byte (SMTPS) rather than STARTTLS.
    public var implicit: Bool

    public static func selfSigned(implicit: Bool) throws -> TestTLS {
        let directory = try ChildProcesses.makeScratchDirectory(prefix: "evently-tls")
        let certificate = directory + "/cert.pem", key = directory + "/key.pem"
        let (status, output) = try ChildProcesses.runToCompletion([
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", key, "-out", certificate,
        ])
        guard status == 0 else { throw TestServerError("openssl could not make a test certificate (\(status)): \(output)") }
        return TestTLS(certificatePath: certificate, keyPath: key, implicit: implicit)
    }
}
