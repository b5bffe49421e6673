/// A configuration problem, naming where it is so an operator can fix it at once.
struct ConfigError: Error, CustomStringConvertible, Equatable {
    var file: String
    var line: Int?
    var key: String?
    var message: String

    var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let key { return "\(location): \(key): \(message)" }
        return "\(location): \(message)"
    }
}
