import Foundation
import Queue

/// Runs `console_browser.py` (selenium driving Debian's headless Chromium) against a console.
public enum ConsoleBrowser {
    /// Whether the system browser and its driver are installed (`.ci/install-deps` installs them).
    public static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
    }

    /// Signs in with `link` and walks the console; screenshots go to `screenshots`. Returns the
    /// script's exit status and output (its reason for failing, when it fails).
    public static func run(link: String, screenshots: URL, discardedJobID: Int64, errorText: String,
                           timeout: Duration = .seconds(150)) async throws -> (status: Int32, output: String) {
        let python = try TestPython.interpreter()
        let script = Bundle.module.url(forResource: "console_browser", withExtension: "py")?.path
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("console_browser.py").path
        let outputPath = NSTemporaryDirectory() + "evently-browser-\(UUID().uuidString.prefix(8)).out"
        defer { unlink(outputPath) }
        let child = try ChildProcess([python, script, link, screenshots.path, String(discardedJobID), errorText],
                                     output: .file(outputPath))
        guard let status = await child.waitForExit(timeout: timeout) else {
            _ = try? await onOwnThread { child.terminate(within: .seconds(5)) }
            return (-1, "the browser check did not finish within \(timeout)\n" + ((try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""))
        }
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }
}
