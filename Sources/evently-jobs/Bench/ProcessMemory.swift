import Foundation

/// Memory figures of another process, from Linux's /proc.
enum ProcessMemory {
    /// The peak resident set of process `pid` (VmHWM), in MiB.
    static func peakResidentMiB(pid: pid_t) -> Double { statusMiB("VmHWM:", pid: pid) }

    /// The resident set of process `pid` now (VmRSS), in MiB.
    static func residentMiB(pid: pid_t) -> Double { statusMiB("VmRSS:", pid: pid) }

    private static func statusMiB(_ field: String, pid: pid_t) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kilobytes / 1024
    }
}
