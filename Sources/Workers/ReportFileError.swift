#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A report's CSV file could not be written; the job fails and is retried.
struct ReportFileError: Error, CustomStringConvertible {
    var path: String
    var operation: String
    var code: Int32

    var description: String {
        "cannot \(operation) \(path): \(String(cString: strerror(code))) (check the [reports] directory and its permissions)"
    }
}
