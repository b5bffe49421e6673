import EventlyTestSupport
import Foundation
import Queue
import Scheduler
import Testing
@testable import evently_jobs

/// The operators' console: the page as served, the sign-in link of `evently-jobs console`, and
/// an operator's round in a real browser (Debian's headless Chromium through selenium).
@Suite(.serialized, .timeLimit(.minutes(5))) struct ConsoleTests {
    /// Where the browser test keeps its screenshots for a person to look at.
    static let screenshots = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/test-output/console")

    @Test func thePageIsServedWithAStrictContentSecurityPolicy() async throws {
        try await DaemonHarness.withTokens { intake in
            let page = try await intake.send("GET", "/console")
            #expect(page.status == 200)
            #expect(page.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(page.body.contains(#"<script src="/console/console.js" defer></script>"#))
            let policy = try #require(page.headers["content-security-policy"])
            #expect(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe"))
            #expect(page.headers["x-content-type-options"] == "nosniff")
            let script = try await intake.send("GET", "/console/console.js")
            #expect(script.status == 200 && script.headers["content-type"]?.hasPrefix("text/javascript") == true)
            #expect(script.body.contains("sessionStorage"), "the token lives in the tab's session storage")
            #expect(!script.body.contains("innerHTML"), "text is never parsed as HTML")
            let style = try await intake.send("GET", "/console/console.css")
            #expect(style.status == 200 && style.headers["content-type"]?.hasPrefix("text/css") == true)
        }
    }

    @Test func theConsoleCommandPrintsALinkWithAShortLivedOperatorToken() async throws {
        let directory = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.writeConfig(in: directory)
        let printed = try await ChildProcess.run([DaemonProcess.executable, "console", "--config", config,
                                                  "--base-url", "https://jobs.example.org/", "--ttl", "10m"])
        #expect(printed.status == 0, "\(printed.output)")
        let link = printed.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(link.hasPrefix("https://jobs.example.org/console#token="), "\(link)")
        let token = String(link.split(separator: "=", maxSplits: 1).last ?? "")
        let claims = try Self.claims(of: token)
        #expect(claims["role"] as? String == "operator")
        let lifetime = (claims["exp"] as? Double ?? 0) - Date().timeIntervalSince1970
        #expect(lifetime > 500 && lifetime <= 600, "a 10-minute token: \(lifetime) s left")

        let badTTL = try await ChildProcess.run([DaemonProcess.executable, "console", "--config", config, "--ttl", "3d"])
        #expect(badTTL.status != 0 && badTTL.output.contains("--ttl"), "\(badTTL.output)")
        let badURL = try await ChildProcess.run([DaemonProcess.executable, "console", "--config", config, "--base-url", "ftp://x"])
        #expect(badURL.status != 0 && badURL.output.contains("--base-url"), "\(badURL.output)")
        let noSecret = directory.appendingPathComponent("bare.conf").path
        try "[http]\nport = 8080\n".write(toFile: noSecret, atomically: true, encoding: .utf8)
        let unsigned = try await ChildProcess.run([DaemonProcess.executable, "console", "--config", noSecret])
        #expect(unsigned.status != 0 && unsigned.output.contains("jwt_secret"), "\(unsigned.output)")
    }

    /// An operator's round: sign in through the printed link, see the queues with their counts,
    /// find a discarded job by its error text, retry it from its page and see it complete,
    /// pause and resume a queue, open every view; no error in the browser's console.
    @Test(.timeLimit(.minutes(4)))
    func anOperatorFindsAndRetriesAFailedJobInARealBrowser() async throws {
        try #require(ConsoleBrowser.isInstalled, "chromium and chromium-driver are missing: run .ci/install-deps")
        let directory = try Self.configDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try Self.writeConfig(in: directory)
        try await DaemonHarness.withTokens({ config in
            let nightly = try? CronExpression("0 3 * * *", timeZoneIdentifier: "Europe/London")
            config.scheduling.schedules = nightly.map { [Schedule(name: "nightly-noop", expression: $0, kind: "diag.noop")] } ?? []
        }) { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            let enqueued = try await intake.send("POST", "/v1/jobs", token: operatorToken,
                                                 json: #"{"kind": "diag.fail", "args": {"times": 1}, "max_attempts": 1}"#)
            let id = try #require(enqueued.json["id"] as? Int, "\(enqueued.body)")
            try await eventually(timeout: .seconds(30), "the job to be discarded") {
                try await intake.send("GET", "/v1/jobs/\(id)", token: operatorToken).json["state"] as? String == "discarded"
            }

            let printed = try await ChildProcess.run([DaemonProcess.executable, "console", "--config", config,
                                                      "--base-url", "http://127.0.0.1:\(intake.port)"])
            #expect(printed.status == 0, "\(printed.output)")
            let link = printed.output.trimmingCharacters(in: .whitespacesAndNewlines)

            try? FileManager.default.removeItem(at: Self.screenshots)
            let walk = try await ConsoleBrowser.run(link: link, screenshots: Self.screenshots, discardedJobID: Int64(id),
                                                    errorText: "planned failure on attempt 1")
            #expect(walk.status == 0, "\(walk.output)")
            let shots = (try? FileManager.default.contentsOfDirectory(atPath: Self.screenshots.path)) ?? []
            #expect(shots.filter { $0.hasSuffix(".png") }.count >= 9, "screenshots in \(Self.screenshots.path): \(shots)")
            print("console screenshots: \(Self.screenshots.path)")

            let after = try await intake.send("GET", "/v1/jobs/\(id)", token: operatorToken)
            #expect(after.json["state"] as? String == "completed", "retried from the page: \(after.body)")
            let queues = try await intake.send("GET", "/v1/queues", token: operatorToken)
            #expect(!queues.body.contains(#""paused":true"#), "the queue was resumed: \(queues.body)")
        }
    }

    // MARK: Helpers

    static func configDirectory() throws -> URL {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-console-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A jobs.conf whose secret is the one the test daemons accept.
    static func writeConfig(in directory: URL) throws -> String {
        let path = directory.appendingPathComponent("jobs.conf").path
        try "[auth]\njwt_secret = \"\(TokenFactory.secret)\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func claims(of token: String) throws -> [String: Any] {
        let parts = token.split(separator: ".")
        try #require(parts.count == 3, "a JWT has three parts: \(token)")
        var payload = String(parts[1]).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
        let data = try #require(Data(base64Encoded: payload))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
