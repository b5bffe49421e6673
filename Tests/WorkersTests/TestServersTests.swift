import AsyncHTTPClient
import EventlyTestSupport
import Foundation
import NIOCore
import NIOHTTP1  // HTTPMethod, HTTPHeaders, status codes of AsyncHTTPClient (built for Workers)
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The protocol test servers the notification workers are tested against, checked with real clients.
@Suite("Test servers", .timeLimit(.minutes(5)))
struct TestServersTests {
    // MARK: SMTP

    @Test("the SMTP sink greets, stops, and starts again on the same port")
    func smtpStartStopRestart() async throws {
        let server = try await SMTPTestServer.start()
        #expect(server.port > 0)
        #expect(server.isRunning)
        let greeting = try SMTPLineClient(port: server.port).readReply()
        #expect(greeting.hasPrefix("220 "))

        server.stop()
        #expect(!server.isRunning)
        server.stop()  // a second stop is harmless
        #expect(throws: (any Error).self) { try SMTPLineClient(port: server.port) }

        let again = try await SMTPTestServer.start(port: server.port)
        defer { again.stop() }
        #expect(again.port == server.port)
        #expect(try SMTPLineClient(port: again.port).readReply().hasPrefix("220 "))
        #expect(try again.messages().isEmpty)
    }

    @Test("the SMTP sink enforces AUTH, refuses a domain, tempfails DATA, and spools what it accepts")
    func smtpDialog() async throws {
        let server = try await SMTPTestServer.start(
            authUser: "evently", authPassword: "s3cret", rejectRecipientDomain: "bounce.example", tempfailCount: 1)
        defer { server.stop() }
        let client = try SMTPLineClient(port: server.port)
        #expect(try client.readReply().hasPrefix("220"))
        let ehlo = try client.command("EHLO test.local")
        #expect(ehlo.hasPrefix("250"))
        #expect(ehlo.contains("AUTH LOGIN PLAIN"))

        #expect(try client.command("MAIL FROM:<tickets@evently.example>").hasPrefix("530"))
        let wrong = Data("\u{0}evently\u{0}nope".utf8).base64EncodedString()
        #expect(try client.command("AUTH PLAIN \(wrong)").hasPrefix("535"))
        let right = Data("\u{0}evently\u{0}s3cret".utf8).base64EncodedString()
        #expect(try client.command("AUTH PLAIN \(right)").hasPrefix("235"))

        let message = "From: Evently <tickets@evently.example>\r\nTo: ada@example.org\r\n"
            + "Subject: Your booking\r\n  is confirmed\r\n\r\nHello Ada,\r\nseat 12 is yours. Grüße\r\n"
        for attempt in 1...2 {
            #expect(try client.command("MAIL FROM:<tickets@evently.example>").hasPrefix("250"))
            #expect(try client.command("RCPT TO:<ghost@bounce.example>") == "550 5.1.1 mailbox unavailable")
            #expect(try client.command("RCPT TO:<ada@example.org>").hasPrefix("250"))
            #expect(try client.command("DATA").hasPrefix("354"))
            let reply = try client.command(message + ".")
            if attempt == 1 {
                #expect(reply == "451 4.3.0 try again later")
            } else {
                #expect(reply.hasPrefix("250"))
            }
        }
        _ = try client.command("QUIT")

        let mails = try await server.waitForMessages(count: 1, timeout: .seconds(5))
        #expect(mails.count == 1)
        let mail = try #require(mails.first)
        #expect(mail.from == "tickets@evently.example")
        #expect(mail.recipients == ["ada@example.org"])
        #expect(mail.authenticatedUser == "evently")
        #expect(mail.subject == "Your booking is confirmed")
        #expect(mail.header("to") == "ada@example.org")
        #expect(mail.body == "Hello Ada,\nseat 12 is yours. Grüße\n")
    }

    @Test("waiting for mail that never comes fails with a clear error")
    func smtpWaitTimesOut() async throws {
        let server = try await SMTPTestServer.start()
        defer { server.stop() }
        await #expect(throws: TestServerError.self) {
            try await server.waitForMessages(count: 1, timeout: .milliseconds(200))
        }
    }

    // MARK: HTTP

    @Test("the HTTP receiver records form posts and answers with its script, repeating the last answer")
    func httpScript() async throws {
        let receiver = try await HTTPTestReceiver.start(responses: [
            ScriptedResponse(status: 500, body: "boom"),
            .json(#"{"sid":"SM1"}"#, status: 200),
        ])
        var statuses: [Int] = []
        var bodies: [String] = []
        for index in 1...3 {
            var request = HTTPClientRequest(url: receiver.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.headers.add(name: "X-Attempt", value: String(index))
            request.body = .bytes(ByteBuffer(string: "To=%2B4915112345678&Body=Seat+12+%26+13%3A+confirmed+%E2%9C%93&n=\(index)"))
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            statuses.append(Int(response.status.code))
            bodies.append(String(buffer: try await response.body.collect(upTo: 1 << 20)))
        }
        #expect(statuses == [500, 200, 200])
        #expect(bodies == ["boom", #"{"sid":"SM1"}"#, #"{"sid":"SM1"}"#])

        let requests = try await receiver.waitForRequests(count: 3, timeout: .seconds(5))
        #expect(requests.count == 3)
        let first = try #require(requests.first)
        #expect(first.method == "POST")
        #expect(first.path == "/sms")
        #expect(first.header("content-type") == "application/x-www-form-urlencoded")
        #expect(first.header("x-attempt") == "1")
        #expect(first.form == ["To": "+4915112345678", "Body": "Seat 12 & 13: confirmed ✓", "n": "1"])
        #expect(requests.map { $0.form["n"] } == ["1", "2", "3"])
        await receiver.stop()
        await receiver.stop()
    }

    @Test("a delayed answer lets a client time out, and stop closes the waiting connection")
    func httpDelay() async throws {
        let receiver = try await HTTPTestReceiver.start(responses: [
            // Far longer than the client's timeout, so that a client timer delayed by a busy
            // machine (seen: 15 s under the full CI run) still fires before the answer comes.
            ScriptedResponse(status: 200, body: "late", delay: .seconds(40)),
            ScriptedResponse(status: 204),
        ])
        var request = HTTPClientRequest(url: receiver.baseURL + "/slow?x=1")
        request.method = .GET
        let clock = ContinuousClock()
        let started = clock.now
        // Long enough for the request to be out even on a loaded machine (seen in CI: with
        // 300 ms the client gave up before the receiver had the request), far below the delay.
        await #expect(throws: (any Error).self) {
            _ = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        }
        #expect(clock.now - started < .seconds(30))
        let requests = try await receiver.waitForRequests(count: 1, timeout: .seconds(30))
        #expect(requests.first?.path == "/slow")
        #expect(requests.first?.queryItems == ["x": "1"])

        let fast = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(fast.status.code == 204)

        let stopping = clock.now
        await receiver.stop()
        #expect(clock.now - stopping < .seconds(5))
        await #expect(throws: (any Error).self) {
            _ = try await HTTPClient.shared.execute(request, timeout: .seconds(1))
        }
    }
}

/// Just enough of a line-based TCP client to speak SMTP by hand: blocking, with 5 s timeouts.
private final class SMTPLineClient {
    private let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TestServerError("socket() failed") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            // No close here: a class whose initializer throws after every property is set is
            // deinitialized, and deinit closes it. Closing twice closed whatever descriptor the
            // number had been given to meanwhile: NIO's, which crashed the test process (CI:
            // "SelectorGeneric.swift:320: Assertion failed" on its next registration).
            throw TestServerError("connect to 127.0.0.1:\(port) failed: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Sends `line` (CRLF added) and returns the reply.
    func command(_ line: String) throws -> String {
        let bytes = Array((line + "\r\n").utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TestServerError("send failed: \(String(cString: strerror(errno)))") }
            sent += count
        }
        return try readReply()
    }

    /// Reads a reply, joining the lines of a multi-line reply ("250-...") with newlines.
    func readReply() throws -> String {
        var lines: [String] = []
        while true {
            let line = try readLine()
            lines.append(line)
            if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" { break }
        }
        return lines.joined(separator: "\n")
    }

    private func readLine() throws -> String {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffer[..<newline])
                buffer.removeSubrange(...newline)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            var chunk = [UInt8](repeating: 0, count: 1024)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else {
                throw TestServerError(count == 0 ? "connection closed" : "recv failed: \(String(cString: strerror(errno)))")
            }
            buffer += chunk[..<count]
        }
    }
}
