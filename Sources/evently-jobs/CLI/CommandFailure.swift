/// A failure a command reports as its message alone.
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
