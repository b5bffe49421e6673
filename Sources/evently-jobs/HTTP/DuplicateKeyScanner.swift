import Foundation

/// Finds an object key that appears twice in one JSON object (`{"quantity": 1, "quantity": 5}`).
///
/// JSONSerialization and JSONDecoder keep one of the two silently, so a proxy or a log that reads
/// the other sees a different request than we act on. Run on text JSONSerialization has already
/// accepted, so it only needs to tell strings, containers and the rest apart; it keeps its own
/// stack, so deep nesting cannot overflow the thread's.
enum DuplicateKeyScanner {
    /// The dotted path of the first repeated key (`"quantity"`, `"args.ms"`), or `nil`.
    static func firstDuplicate(in data: Data) -> String? {
        let bytes = [UInt8](data)
        // One frame per open container: its keys so far (nil for an array) and its path.
        var frames: [(keys: Set<String>?, path: String)] = []
        var expectingKey = false
        var pendingKey: String?
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                frames.append((keys: [], path: childPath(frames, pendingKey)))
                pendingKey = nil
                expectingKey = true
                index += 1
            case UInt8(ascii: "["):
                frames.append((keys: nil, path: childPath(frames, pendingKey)))
                pendingKey = nil
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = frames.popLast()
                expectingKey = false
                index += 1
            case UInt8(ascii: ","):
                expectingKey = frames.last?.keys != nil
                pendingKey = nil
                index += 1
            case UInt8(ascii: "\""):
                let start = index
                index += 1
                var escaped = false
                while index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\\") { escaped = true; index += 2; continue }
                    if bytes[index] == UInt8(ascii: "\"") { break }
                    index += 1
                }
                index += 1
                guard expectingKey, var frame = frames.popLast() else { continue }
                let raw = Data(bytes[start..<min(index, bytes.count)])
                let key = escaped
                    ? ((try? JSONSerialization.jsonObject(with: raw, options: .fragmentsAllowed)) as? String ?? String(decoding: raw, as: UTF8.self))
                    : String(decoding: raw.dropFirst().dropLast(), as: UTF8.self)
                if frame.keys?.insert(key).inserted == false {
                    return frame.path.isEmpty ? key : "\(frame.path).\(key)"
                }
                frames.append(frame)
                pendingKey = key
                expectingKey = false
            default:
                index += 1
            }
        }
        return nil
    }

    private static func childPath(_ frames: [(keys: Set<String>?, path: String)], _ key: String?) -> String {
        guard let parent = frames.last else { return "" }
        guard let key else { return parent.path }
        return parent.path.isEmpty ? key : "\(parent.path).\(key)"
    }
}
