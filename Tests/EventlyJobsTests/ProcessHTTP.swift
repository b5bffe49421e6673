import AsyncHTTPClient
import EventlyTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Queue
import Synchronization

/// What the clients of a load got back: every status, the ids acknowledged, and what went wrong.
final class HTTPLoad: Sendable {
    enum Acknowledged { case booking(String), job(Int64) }
    struct Tally: Sendable {
        var statuses: [Int: Int] = [:]
        var unexpected: [String] = []
        var withoutRetryAfter: [String] = []
        var bookings: [String] = []
        var jobs: [Int64] = []
    }

    let tally = Mutex(Tally())
    let stop = Atomic<Bool>(false)

    /// Sends requests one after another until ``stop``; a refusal is followed by a short pause,
    /// as a well-behaved client would.
    func repeatUntilStopped(_ request: @Sendable () async throws -> (ProcessHTTP.Reply, Acknowledged?)) async {
        while !stop.load(ordering: .relaxed) {
            do {
                let (reply, acknowledged) = try await request()
                tally.withLock { tally in
                    tally.statuses[reply.status, default: 0] += 1
                    if reply.status == 503, reply.headers["Retry-After"].isEmpty { tally.withoutRetryAfter.append(reply.body) }
                    if reply.status >= 400, reply.status != 503 { tally.unexpected.append("\(reply.status): \(reply.body)") }
                    switch acknowledged {
                    case .booking(let id): tally.bookings.append(id)
                    case .job(let id): tally.jobs.append(id)
                    case nil: break
                    }
                }
                if reply.status >= 500 { try? await Task.sleep(for: .milliseconds(100)) }
            } catch {
                tally.withLock { $0.unexpected.append("\(error)") }
            }
        }
    }
}

/// The HTTP intake of a ``DaemonProcess``.
struct ProcessHTTP: Sendable {
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }
    }

    let base: String

    /// A jobs.conf for a daemon with its HTTP intake on a free port, no rate limits, the test
    /// tokens' secret and a short lease, plus `more` sections; returns its path.
    static func writeConfig(in directory: URL, databaseURL: String, lease: String, more: String = "") throws -> String {
        let path = directory.appendingPathComponent("jobs.conf").path
        try """
            [database]
            url = "\(databaseURL)"
            pool_size = 8
            [http]
            port = 0
            rate_limit_per_user = 0
            rate_limit_per_ip = 0
            [auth]
            jwt_secret = "\(TokenFactory.secret)"
            [queue]
            lease = \(lease)
            rescue_interval = 300ms
            poll_interval = 200ms
            shutdown_timeout = 3s
            \(more)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Waits until the daemon logs its HTTP port.
    static func waitForIntake(of daemon: DaemonProcess, timeout: Duration = .seconds(60)) async throws -> ProcessHTTP {
        var port = 0
        defer { if port == 0 { print("daemon output:\n\(daemon.output.suffix(4_000))") } }
        try await eventually(timeout: timeout, "the HTTP intake listens") {
            guard daemon.process.isRunning else { throw TestServerError("the daemon exited before it listened") }
            port = daemon.output.split(separator: "\n").first { $0.contains("HTTP intake listening on") }
                .flatMap { $0.split(separator: ":").last }.flatMap { Int($0) } ?? 0
            return port != 0
        }
        return ProcessHTTP(base: "http://127.0.0.1:\(port)")
    }

    /// One request (a fresh Idempotency-Key on each POST), answered within `timeout`.
    func send(_ method: HTTPMethod, _ path: String, token: String? = nil, json: String? = nil,
              timeout: Duration = .seconds(10)) async throws -> Reply {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if method == .POST { request.headers.add(name: "Idempotency-Key", value: UUID().uuidString) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response = try await TestHTTP.client.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
        let body = try await response.body.collect(upTo: 1 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }
}
