import Foundation

/// An RFC 4180 reader, strict enough to catch a writer's mistakes: CRLF after every record,
/// quotes only around whole fields, doubled quotes inside.
public enum StrictCSV {
    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func parse(_ text: String) throws -> [[String]] {
        let scalars = Array(text.unicodeScalars)
        var rows: [[String]] = [], row: [String] = [], field = String.UnicodeScalarView()
        var index = 0, quoted = false, wasQuoted = false
        while index < scalars.count {
            let c = scalars[index]
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            if quoted {
                if c == "\"" && next == "\"" { field.append(c); index += 2; continue }
                if c == "\"" { quoted = false; wasQuoted = true } else { field.append(c) }
            } else if c == "\"" {
                guard field.isEmpty, !wasQuoted else { throw Malformed(description: "stray quote at \(index)") }
                quoted = true
            } else if c == "," {
                row.append(String(field)); field = .init(); wasQuoted = false
            } else if c == "\r" {
                guard next == "\n" else { throw Malformed(description: "CR without LF at \(index)") }
                row.append(String(field)); rows.append(row); row = []; field = .init(); wasQuoted = false
                index += 2; continue
            } else if c == "\n" {
                throw Malformed(description: "bare LF at \(index)")
            } else {
                guard !wasQuoted else { throw Malformed(description: "text after a closing quote at \(index)") }
                field.append(c)
            }
            index += 1
        }
        guard !quoted, field.isEmpty, row.isEmpty else { throw Malformed(description: "the last record does not end in CRLF") }
        return rows
    }
}
