/// The one check of the addresses messages go to, shared by everyone who writes them into a
/// protocol: the intake (token claims), the mailer (`MAIL`/`RCPT TO` and headers) and the SMS
/// sender. An address that passes holds no byte that could end a header line or an SMTP command.
public enum ContactAddress {
    /// Longest email address: a forward path holds at most 256 octets including the angle
    /// brackets (RFC 5321 4.5.3.1.3), so 254 for the address itself.
    public static let maxEmailBytes = 254

    /// Why `text` is not an RFC 5321 mailbox (`local@domain`, a dot-atom local part of at most
    /// 64 bytes and a host name of letters, digits and hyphens), or `nil` when it is one.
    /// Quoted local parts, address literals and non-ASCII (SMTPUTF8) addresses are refused.
    public static func emailProblem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return "is empty" }
        if bytes.count > maxEmailBytes { return "is longer than \(maxEmailBytes) bytes" }
        if bytes.contains(where: { $0 < 0x21 || $0 == 0x7F }) { return "contains a space or control character" }
        if bytes.contains(where: { $0 >= 0x80 }) { return "contains a non-ASCII character" }
        if bytes.contains(where: { $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") }) { return "contains an angle bracket" }
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { return "has no @" }
        let local = bytes[..<at], domain = bytes[(at + 1)...]
        if local.isEmpty || local.count > 64 { return "needs a local part of 1 to 64 bytes before the @" }
        let atext = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~".utf8)
        let localAtoms = local.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        if localAtoms.contains(where: { $0.isEmpty || !$0.allSatisfy(atext.contains) }) {
            return "has a local part that is not a dot-atom (letters, digits, !#$%&'*+-/=?^_`{|}~ and single dots)"
        }
        if let problem = hostNameProblem(domain) { return "has a domain that \(problem)" }
        return nil
    }

    /// Why `text` is not an E.164 number (`+`, then 2 to 15 digits, the first not 0), or `nil`.
    public static func phoneProblem(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard bytes.first == UInt8(ascii: "+") else { return "must start with + and the country code (E.164)" }
        let digits = bytes.dropFirst()
        guard (2...15).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else {
            return "must be + followed by 2 to 15 digits (E.164)"
        }
        guard digits.first != UInt8(ascii: "0") else { return "must not have a country code starting with 0 (E.164)" }
        return nil
    }

    private static func hostNameProblem(_ domain: ArraySlice<UInt8>) -> String? {
        if domain.isEmpty || domain.count > 253 { return "must be 1 to 253 bytes" }
        for label in domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false) {
            guard (1...63).contains(label.count) else { return "has an empty or over-long label" }
            guard label.allSatisfy({ isLetterOrDigit($0) || $0 == UInt8(ascii: "-") }) else {
                return "may hold only letters, digits, hyphens and dots"
            }
            if label.first == UInt8(ascii: "-") || label.last == UInt8(ascii: "-") { return "has a label starting or ending with a hyphen" }
        }
        return nil
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }
}
