import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Synchronization
import Testing

/// One message a live stream delivered.
struct LiveReceived: Sendable {
    var id: String
    var type: String
    /// The whole message, JSON.
    var text: String

    var data: [String: Any] {
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
        return object?["data"] as? [String: Any] ?? [:]
    }

    init?(json text: String) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let id = object["id"] as? String, let type = object["type"] as? String else { return nil }
        self.id = id
        self.type = type
        self.text = text
    }
}

/// A value behind a lock, by reference (a `Mutex` cannot be captured by a task).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<T>(_ body: (inout sending Value) throws -> sending T) rethrows -> sending T { try mutex.withLock(body) }
}

/// What the live clients share: the messages so far and a wait for the ones a test expects.
protocol LiveClient: Sendable {
    var received: Locked<[LiveReceived]> { get }
    /// What else the client knows, for a failure message.
    var diagnosis: String { get }
}

extension LiveClient {
    var messages: [LiveReceived] { received.withLock { $0 } }

    func messages(_ type: String) -> [LiveReceived] { messages.filter { $0.type == type } }

    /// Waits until `condition` holds for the messages so far; fails naming `what` after `timeout`.
    @discardableResult
    func waitUntil(_ what: String, timeout: Duration = .seconds(20),
                   _ condition: ([LiveReceived]) -> Bool) async throws -> [LiveReceived] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let now = messages
            if condition(now) { return now }
            if ContinuousClock.now >= deadline {
                throw LiveClientError("waited \(timeout) for \(what); got: \(now.map { "\($0.type) \($0.id)" }) \(diagnosis)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

struct LiveClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A real WebSocket client (swift-websocket's) on `GET /v1/live`.
final class LiveSocket: LiveClient {
    let received = Locked<[LiveReceived]>([])
    /// The close frame's code and reason, once the socket closed.
    let closed = Locked<(code: Int, reason: String)?>(nil)
    let failure = Locked<String?>(nil)
    private let outgoing: AsyncStream<String>.Continuation
    private let task: Task<Void, Never>

    init(port: Int, token: String?, headers: HTTPFields = [:], query: String = "") {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        outgoing = continuation
        var fields = headers
        if let token { fields[.authorization] = "Bearer \(token)" }
        let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 20, additionalHeaders: fields)
        let received = self.received
        let closed = self.closed
        let failure = self.failure
        task = Task {
            do {
                let frame = try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(port)/v1/live\(query)", configuration: configuration,
                    logger: Logger(label: "live-socket")
                ) { inbound, outbound, _ in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await text in stream { try await outbound.write(.text(text)) }
                        }
                        for try await message in inbound.messages(maxSize: 1 << 22) {
                            guard case .text(let text) = message, let parsed = LiveReceived(json: text) else { continue }
                            received.withLock { $0.append(parsed) }
                        }
                        group.cancelAll()
                    }
                }
                closed.withLock { $0 = frame.map { (LiveSocket.number($0.closeCode), $0.reason ?? "") } ?? (0, "") }
            } catch {
                failure.withLock { $0 = "\(error)" }
                closed.withLock { $0 = (-1, "\(error)") }
            }
        }
    }

    func send(_ text: String) { outgoing.yield(text) }

    var diagnosis: String { "closed: \(String(describing: closed.withLock { $0 })), failure: \(failure.withLock { $0 } ?? "none")" }

    /// A close code as its number (NIO names the standard ones).
    static func number(_ code: WebSocketErrorCode) -> Int {
        var buffer = ByteBuffer()
        buffer.write(webSocketErrorCode: code)
        return Int(buffer.readInteger(as: UInt16.self) ?? 0)
    }

    /// Waits for the socket to close and returns its close code and reason.
    func waitForClose(timeout: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation) async throws -> (code: Int, reason: String) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let closed = closed.withLock({ $0 }) { return closed }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw LiveClientError("the socket (waited for at \(sourceLocation.line)) did not close within \(timeout); got: \(messages.map(\.type))")
    }

    func close() {
        outgoing.finish()
        task.cancel()
    }

    deinit { close() }
}

/// A real server-sent events client: AsyncHTTPClient streaming `GET /v1/live/events`, parsed
/// as the EventSource standard does (`id:`, `event:`, `data:` lines, a blank line ends one).
final class LiveEventStream: LiveClient {
    let received = Locked<[LiveReceived]>([])
    let status = Locked<Int?>(nil)
    let body = Locked("")
    let ended = Locked(false)
    private let task: Task<Void, Never>

    init(port: Int, token: String?, query: String = "", lastEventID: String? = nil) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/live/events\(query)")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        request.headers.add(name: "Accept", value: "text/event-stream")
        let received = self.received
        let status = self.status
        let body = self.body
        let ended = self.ended
        task = Task {
            defer { ended.withLock { $0 = true } }
            do {
                let response = try await LiveEventStream.client.execute(request, timeout: .hours(1))
                status.withLock { $0 = Int(response.status.code) }
                var pending = ""
                for try await buffer in response.body {
                    let chunk = String(buffer: buffer)
                    body.withLock { $0 += chunk }
                    pending += chunk
                    while let end = pending.range(of: "\n\n") {
                        let block = String(pending[..<end.lowerBound])
                        pending = String(pending[end.upperBound...])
                        let dataLines = block.split(separator: "\n").filter { $0.hasPrefix("data: ") }.map { $0.dropFirst(6) }
                        guard !dataLines.isEmpty, let parsed = LiveReceived(json: dataLines.joined(separator: "\n")) else { continue }
                        received.withLock { $0.append(parsed) }
                    }
                }
            } catch {
                body.withLock { $0 += "\n(stream error: \(error))" }
            }
        }
    }

    /// Waits for the response head and returns its status.
    func waitForStatus(timeout: Duration = .seconds(20)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = status.withLock({ $0 }) { return status }
            if ended.withLock({ $0 }) { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw LiveClientError("no response within \(timeout): \(body.withLock { $0 })")
    }

    func close() { task.cancel() }

    var diagnosis: String { "status \(String(describing: status.withLock { $0 })), body so far: \(body.withLock { $0 }.prefix(2_000))" }

    deinit { close() }

    /// Its own client: streams stay open for minutes and must not hold the shared pool's connections.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
        timeout: .init(connect: .seconds(30), read: .seconds(120)),
        connectionPool: .init(idleTimeout: .seconds(5), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
}
