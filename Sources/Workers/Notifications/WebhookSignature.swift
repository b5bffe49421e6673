import Crypto
import Foundation

/// HMAC-SHA256 signatures for the SMS provider traffic, both ways: requests we send carry one,
/// status callbacks we accept must carry one.
///
/// The signed text is `"<timestamp>.<body>"` (Unix seconds, the raw body bytes), sent as the
/// headers `X-Evently-Timestamp` and `X-Evently-Signature` (lowercase hex). Binding the
/// timestamp lets the receiver refuse replays of an old, validly signed request.
public struct WebhookSignature: Sendable {
    public static let timestampHeader = "X-Evently-Timestamp"
    public static let signatureHeader = "X-Evently-Signature"
    /// How far a callback's timestamp may be from our clock.
    public static let tolerance: TimeInterval = 300

    let key: SymmetricKey

    public init(secret: String) {
        self.key = SymmetricKey(data: Data(secret.utf8))
    }

    public func sign(timestamp: Int, body: some DataProtocol) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Self.signedBytes(timestamp: timestamp, body: body), using: key)
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// Checks the signature in constant time and the timestamp against `now`.
    public func isValid(signature: String, timestamp: String, body: some DataProtocol, now: Date = Date()) -> Bool {
        guard let seconds = Int(timestamp), abs(now.timeIntervalSince1970 - TimeInterval(seconds)) <= Self.tolerance,
              let code = Self.bytes(fromHex: signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Self.signedBytes(timestamp: seconds, body: body), using: key)
    }

    static func signedBytes(timestamp: Int, body: some DataProtocol) -> Data {
        var data = Data("\(timestamp).".utf8)
        data.append(contentsOf: body)
        return data
    }

    static func bytes(fromHex text: String) -> Data? {
        let characters = Array(text.utf8)
        guard characters.count % 2 == 0, !characters.isEmpty else { return nil }
        var data = Data(capacity: characters.count / 2)
        var index = 0
        while index < characters.count {
            guard let high = hexValue(characters[index]), let low = hexValue(characters[index + 1]) else { return nil }
            data.append(high << 4 | low)
            index += 2
        }
        return data
    }

    private static func hexValue(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
