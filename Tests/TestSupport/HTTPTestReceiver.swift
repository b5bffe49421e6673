import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A real HTTP server on 127.0.0.1 and a free port, standing in for an SMS provider (or any
/// webhook): it records every request (any method, any path) and answers each with the next
/// scripted response; when the script runs out, the last response repeats.
///
/// Plain SwiftNIO rather than Hummingbird, so that ``stop()`` can close open keep-alive
/// connections outright (cancelling a Hummingbird server with keep-alive connections open was
/// seen to crash).
public final class HTTPTestReceiver: Sendable {
    /// The port the server listens on.
    public let port: Int
    private let serverChannel: any Channel
    private let state: ReceiverState

    private init(port: Int, serverChannel: any Channel, state: ReceiverState) {
        self.port = port
        self.serverChannel = serverChannel
        self.state = state
    }

    /// `http://127.0.0.1:PORT`
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// `http://127.0.0.1:PORT/sms`: any path is accepted, this is just a plausible one.
    public var url: String { baseURL + "/sms" }

    /// Starts a receiver that answers requests with `responses` in order, repeating the last one.
    /// An empty script answers every request with `200` and an empty body.
    public static func start(responses: [ScriptedResponse] = [ScriptedResponse()]) async throws -> HTTPTestReceiver {
        let state = ReceiverState(responses: responses.isEmpty ? [ScriptedResponse()] : responses)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RecordingHandler(state: state))
                    state.track(channel)
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close().get()
            throw TestServerError("the HTTP test receiver is bound but has no local port")
        }
        return HTTPTestReceiver(port: port, serverChannel: channel, state: state)
    }

    /// The requests received so far, oldest first.
    public func requests() -> [RecordedRequest] {
        state.requests()
    }

    /// Waits until at least `count` requests arrived and returns them all.
    ///
    /// - Throws: ``TestServerError`` after `timeout`, saying how many arrived.
    @discardableResult
    public func waitForRequests(count: Int, timeout: Duration = .seconds(10)) async throws -> [RecordedRequest] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let received = requests()
            if received.count >= count { return received }
            if ContinuousClock.now >= deadline {
                throw TestServerError(
                    "expected \(count) request(s) at the HTTP test receiver within \(timeout), got \(received.count)"
                        + received.map { "\n- \($0.method) \($0.uri)" }.joined())
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops listening and closes every open connection (including idle keep-alive ones and
    /// ones waiting on a delayed response). Safe to call more than once.
    public func stop() async {
        guard state.markStopped() else { return }
        try? await serverChannel.close().get()
        for channel in state.openChannels() {
            try? await channel.close().get()
        }
    }

    deinit {
        if state.markStopped() {
            serverChannel.close(promise: nil)
            for channel in state.openChannels() { channel.close(promise: nil) }
        }
    }
}

/// One scripted answer of the ``HTTPTestReceiver``.
public struct ScriptedResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// How long to wait before answering (to test client timeouts).
    public var delay: Duration

    public init(status: Int = 200, headers: [(String, String)] = [], body: String = "", delay: Duration = .zero) {
        self.init(status: status, headers: headers, bodyBytes: Array(body.utf8), delay: delay)
    }

    public init(status: Int, headers: [(String, String)] = [], bodyBytes: [UInt8], delay: Duration = .zero) {
        self.status = status
        self.headers = headers
        self.body = bodyBytes
        self.delay = delay
    }

    /// A response with a JSON body and `content-type: application/json`.
    public static func json(_ body: String, status: Int = 200, delay: Duration = .zero) -> ScriptedResponse {
        ScriptedResponse(status: status, headers: [("content-type", "application/json")], body: body, delay: delay)
    }
}

/// One request the ``HTTPTestReceiver`` received.
public struct RecordedRequest: Sendable {
    public let method: String
    /// The request target as sent: path and query.
    public let uri: String
    /// The headers in the order received.
    public let headers: [(String, String)]
    public let body: [UInt8]
    /// When the whole request had arrived (before any scripted delay).
    public let receivedAt: ContinuousClock.Instant

    public init(method: String, uri: String, headers: [(String, String)], body: [UInt8],
                receivedAt: ContinuousClock.Instant = .now) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.receivedAt = receivedAt
    }

    /// The path, without the query.
    public var path: String {
        uri.firstIndex(of: "?").map { String(uri[..<$0]) } ?? uri
    }

    /// The query string after `?`, if any.
    public var query: String? {
        uri.firstIndex(of: "?").map { String(uri[uri.index(after: $0)...]) }
    }

    /// The first header named `name`, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// The body decoded as UTF-8.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body's fields when it is `application/x-www-form-urlencoded` (empty otherwise).
    /// A field sent more than once keeps its last value.
    public var form: [String: String] {
        guard let contentType = header("content-type")?.lowercased(),
              contentType.hasPrefix("application/x-www-form-urlencoded") else { return [:] }
        return Self.parseForm(text)
    }

    /// The query string's fields, decoded like a form.
    public var queryItems: [String: String] {
        query.map(Self.parseForm) ?? [:]
    }

    static func parseForm(_ encoded: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in encoded.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decodeFormComponent(parts[0])
            let value = parts.count > 1 ? decodeFormComponent(parts[1]) : ""
            fields[name] = value
        }
        return fields
    }

    static func decodeFormComponent(_ component: Substring) -> String {
        let spaced = component.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}

// MARK: - Server internals

final class ReceiverState: Sendable {
    private struct Contents {
        var requests: [RecordedRequest] = []
        var answered = 0
        var channels: [ObjectIdentifier: any Channel] = [:]
        var stopped = false
    }

    let responses: [ScriptedResponse]
    private let contents = Mutex(Contents())

    init(responses: [ScriptedResponse]) {
        self.responses = responses
    }

    /// Records a request and returns the response to give it.
    func record(_ request: RecordedRequest) -> ScriptedResponse {
        contents.withLock { contents in
            contents.requests.append(request)
            let response = responses[min(contents.answered, responses.count - 1)]
            contents.answered += 1
            return response
        }
    }

    func requests() -> [RecordedRequest] {
        contents.withLock { $0.requests }
    }

    func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let accepted = contents.withLock { contents in
            guard !contents.stopped else { return false }
            contents.channels[id] = channel
            return true
        }
        guard accepted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [self] _ in
            contents.withLock { _ = $0.channels.removeValue(forKey: id) }
        }
    }

    func openChannels() -> [any Channel] {
        contents.withLock { Array($0.channels.values) }
    }

    /// Marks the receiver stopped; returns false when it already was.
    func markStopped() -> Bool {
        contents.withLock { contents in
            defer { contents.stopped = true }
            return !contents.stopped
        }
    }
}

/// Collects one request at a time (the pipelining handler in front holds back the next until
/// this one is answered) and writes the scripted response, after its delay.
final class RecordingHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: ReceiverState
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(state: ReceiverState) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            self.head = nil
            let request = RecordedRequest(
                method: head.method.rawValue, uri: head.uri,
                headers: head.headers.map { ($0.name, $0.value) }, body: body)
            body = []
            let response = state.record(request)
            if response.delay > .zero {
                let nanoseconds = response.delay.components.seconds * 1_000_000_000
                    + response.delay.components.attoseconds / 1_000_000_000
                context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(nanoseconds)) {
                    self.respond(context: context, head: head, response: response)
                }
            } else {
                respond(context: context, head: head, response: response)
            }
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, response: ScriptedResponse) {
        guard context.channel.isActive else { return }
        var headers = HTTPHeaders(response.headers)
        if !headers.contains(name: "content-length") {
            headers.replaceOrAdd(name: "content-length", value: String(response.body.count))
        }
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        let responseHead = HTTPResponseHead(
            version: head.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        }
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                loopBoundContext.value.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
