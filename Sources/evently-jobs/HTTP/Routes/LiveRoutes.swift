import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Queue
import ServiceLifecycle
import Synchronization

/// `GET /v1/live` (WebSocket) and `GET /v1/live/events` (server-sent events): one stream of
/// ``LiveMessage``s per connection, fed by the ``LiveHub``.
///
/// Authentication: `Authorization: Bearer` on the upgrade or SSE request; for browsers, whose
/// WebSocket cannot set headers, the token as a subprotocol (`Sec-WebSocket-Protocol:
/// evently.live, bearer.<token>`, answered with `evently.live`) or in the first message
/// (`{"token": "..."}` within ``LiveSettings/authTimeout``). A browser's `Origin` must be the
/// server's own or one of `http.cors_origins`.
///
/// On the socket a client sends JSON objects with any of `token`, `resume` (the last id it saw),
/// `subscribe` and `unsubscribe` (`["event:<id>", "queues"]`). SSE takes `?events=<id>,<id>`,
/// `?queues=true` and `Last-Event-ID` (or `?last_event_id=`).
struct LiveRoutes: Sendable {
    let hub: LiveHub
    let authenticator: Authenticator?
    let corsOrigins: Set<String>
    /// Upgrade attempts per client address (the main router's limits do not see upgrades):
    /// `http.rate_limit_per_ip` a minute, so a client guessing tokens over WebSockets is throttled too.
    var upgradesPerAddress = RateLimiter(perMinute: 0)

    /// The subprotocol a browser offers beside its token, and the one the server answers with.
    static let subprotocol = "evently.live"
    static let tokenSubprotocolPrefix = "bearer."
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
    /// Client messages larger than this close the socket (1009).
    static let maxClientMessage = 16 * 1024

    /// The HTTP routes: `GET /v1/live` without an upgrade (426) and the SSE stream.
    func add(to router: Router<IntakeContext>) {
        router.get("/v1/live") { _, _ -> Response in
            throw APIError(.upgradeRequired, "upgrade_required",
                           "GET /v1/live is a WebSocket: send Upgrade: websocket, or use GET /v1/live/events for server-sent events",
                           headers: [.upgrade: "websocket"])
        }
        router.get("/v1/live/events") { request, context in
            try await serveEvents(request, context: context)
        }
    }

    /// The router upgrade requests go through. Every WebSocket request to `/v1/live` is upgraded
    /// and then checked (origin, token, limits): Hummingbird can only answer a refused upgrade
    /// with an empty 400, so a refusal is a close frame whose code and reason say why (4403,
    /// 4401, 4429).
    func makeWebSocketRouter(trustedProxies: [AddressRange]) -> Router<IntakeContext> {
        let router = Router(context: IntakeContext.self)
        router.middlewares.add(IntakeMiddleware(trustedProxies: trustedProxies))
        router.ws("/v1/live", shouldUpgrade: { request, _ in
            var headers: HTTPFields = [:]
            if Self.offeredSubprotocols(request).contains(Self.subprotocol) { headers[.secWebSocketProtocol] = Self.subprotocol }
            return .upgrade(headers)
        }, onUpgrade: { inbound, outbound, context in
            await serveWebSocket(inbound: inbound, outbound: outbound, request: context.request,
                                 context: context.requestContext)
        })
        return router
    }

    /// The caller named by the Authorization header or by a `bearer.<token>` subprotocol; `nil`
    /// when the token is to come in the first message.
    private func caller(of request: Request) async throws(APIError) -> Caller? {
        if let header = request.headers[.authorization] {
            guard let authenticator else {
                throw APIError(.unauthorized, "auth_not_configured", "this server has no auth.jwt_secret configured")
            }
            return try await authenticator.caller(fromAuthorization: header)
        }
        guard let token = Self.offeredSubprotocols(request).first(where: { $0.hasPrefix(Self.tokenSubprotocolPrefix) }) else {
            return nil
        }
        return try await authenticate(String(token.dropFirst(Self.tokenSubprotocolPrefix.count)))
    }

    private func authenticate(_ token: String) async throws(APIError) -> Caller {
        guard let authenticator else {
            throw APIError(.unauthorized, "auth_not_configured", "this server has no auth.jwt_secret configured")
        }
        return try await authenticator.caller(fromAuthorization: "Bearer " + token)
    }

    static func offeredSubprotocols(_ request: Request) -> [String] {
        request.headers[values: .secWebSocketProtocol]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// What a client may send on the socket.
    struct ClientMessage: Decodable {
        var token: String?
        var resume: String?
        var subscribe: [String]?
        var unsubscribe: [String]?
    }

    private func serveWebSocket(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request,
                                context: IntakeContext) async {
        let logger = context.logger
        var messages = inbound.messages(maxSize: Self.maxClientMessage).makeAsyncIterator()
        var first: ClientMessage?
        let caller: Caller
        do {
            if let key = context.addressKey, let wait = upgradesPerAddress.take("ip:\(key)") {
                throw LiveEnd.tooManyConnections("too many attempts from this address; retry in \(wait) s")
            }
            do { try checkOrigin(request) } catch { throw LiveEnd.forbiddenOrigin(error.message) }
            if let known = try await self.caller(of: request) {
                caller = known
            } else {
                // The socket is closed when no token came in time, which ends the read below.
                let timedOut = Atomic(false)
                let channel = context.channel
                let authTimeout = hub.settings.authTimeout
                let timer = Task {
                    try await Task.sleep(for: authTimeout)
                    timedOut.store(true, ordering: .relaxed)
                    let end = LiveEnd.authenticationTimeout
                    try? await withDeadline(.seconds(1)) {
                        try await outbound.close(WebSocketErrorCode(codeNumber: Int(end.closeCode)), reason: end.reason)
                    }
                    try? await channel.close()
                }
                let text = try? await Self.nextText(&messages)
                timer.cancel()
                guard let text, !timedOut.load(ordering: .relaxed) else { return }
                let message = try Self.decode(text)
                guard let token = message.token else { throw LiveEnd.unauthorized("send {\"token\": \"<bearer token>\"} first") }
                caller = try await authenticate(token)
                first = message
            }
            try hub.checkLimits(caller: caller, addressKey: context.addressKey)
        } catch {
            let end: LiveEnd = switch error {
            case let end as LiveEnd: end
            case is DeadlineExceeded: .authenticationTimeout
            case let error as APIError where error.status == .tooManyRequests || error.status == .serviceUnavailable:
                .tooManyConnections(error.message)
            case let error as APIError: .unauthorized(error.message)
            default: .unauthorized("the first message must be a JSON object with a token")
            }
            try? await outbound.close(WebSocketErrorCode(codeNumber: Int(end.closeCode)), reason: end.reason)
            return
        }

        let resume = first?.resume ?? request.uri.queryParameters["resume"].map(String.init)
        let subscriber: LiveSubscriber
        do {
            subscriber = try await hub.connect(caller: caller, addressKey: context.addressKey,
                                               resumeFrom: resume.flatMap(LiveMessageIDs.cursor(of:)), transport: "websocket")
        } catch {
            let end: LiveEnd = (error as? APIError).map { .tooManyConnections($0.message) } ?? .shuttingDown
            logger.warning("live stream could not start: \(readableDescription(of: error))")
            try? await outbound.close(WebSocketErrorCode(codeNumber: end == .shuttingDown ? 1011 : Int(end.closeCode)),
                                      reason: end == .shuttingDown ? "try again shortly" : end.reason)
            return
        }
        defer { hub.disconnect(subscriber, transport: "websocket") }
        if let resume, LiveMessageIDs.cursor(of: resume) == nil {
            subscriber.deliver(.error("bad_resume", "resume must be an id this stream sent, e.g. \"42\" or \"42-3\""))
        }
        if let first { await apply(first, ignoringResume: true, to: subscriber) }

        let channel = context.channel
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await Self.writeMessages(of: subscriber, to: outbound, startingAt: subscriber.start) }
            group.addTask { await Self.expire(subscriber, at: caller.expiresAt) }
            group.addTask { await Self.cutOffWhenTooSlow(subscriber, channel: channel) }
            do {
                while let text = try await Self.nextText(&messages) {
                    do {
                        await apply(try Self.decode(text), ignoringResume: false, to: subscriber)
                    } catch {
                        subscriber.deliver(.error("bad_message", "messages are JSON objects with token, resume, subscribe or unsubscribe"))
                    }
                }
            } catch {
                logger.debug("live socket read ended: \(readableDescription(of: error))")
            }
            // The client closed (or went away): stop the writer.
            subscriber.end(.clientGone)
            group.cancelAll()
        }
    }

    private static func nextText(_ messages: inout WebSocketInboundMessageStream.AsyncIterator) async throws -> String? {
        while let message = try await messages.next() {
            switch message {
            case .text(let text): return text
            case .binary(let buffer): return String(buffer: buffer)
            }
        }
        return nil
    }

    private static func decode(_ text: String) throws -> ClientMessage {
        try JSONDecoder().decode(ClientMessage.self, from: Data(text.utf8))
    }

    private func apply(_ message: ClientMessage, ignoringResume: Bool, to subscriber: LiveSubscriber) async {
        if message.token != nil, !ignoringResume {
            subscriber.deliver(.error("already_authenticated", "this stream is signed in; reconnect to use another token"))
        }
        if let resume = message.resume, !ignoringResume {
            if let cursor = LiveMessageIDs.cursor(of: resume) {
                do { try await hub.catchUp(subscriber, after: cursor) } catch {
                    subscriber.deliver(.error("unavailable", "missed changes could not be read; try resume again shortly"))
                }
            } else {
                subscriber.deliver(.error("bad_resume", "resume must be an id this stream sent, e.g. \"42\" or \"42-3\""))
            }
        }
        if let names = message.subscribe {
            do { try await hub.subscribe(subscriber, to: names) } catch let problem as LiveHub.SubscriptionProblem {
                subscriber.deliver(.error(problem.code, problem.message))
            } catch {
                subscriber.deliver(.error("unavailable", "the subscription could not be checked; try again shortly"))
            }
        }
        if let names = message.unsubscribe { hub.unsubscribe(subscriber, from: names) }
    }

    /// Sends the stream's messages until it ends, then the last word: `resync` for a client
    /// too slow, and a close frame with the code saying why.
    private static func writeMessages(of subscriber: LiveSubscriber, to outbound: WebSocketOutboundWriter,
                                      startingAt cursor: Int64) async {
        var ids = LiveMessageIDs(startingAt: cursor)
        do {
            for await message in subscriber.messages where message.kind != .ping {
                try await outbound.write(.text(message.text(id: ids.next(for: message))))
            }
            let end = subscriber.ended ?? .clientGone
            if end == .tooSlow {
                let resync = LiveMessage.resync("too_slow", "this stream fell too far behind: read the REST lists again and reconnect")
                let text = resync.text(id: ids.next(for: resync))
                try await withDeadline(.seconds(2)) { try await outbound.write(.text(text)) }
            }
            if end != .clientGone {
                try await withDeadline(.seconds(2)) {
                    try await outbound.close(WebSocketErrorCode(codeNumber: Int(end.closeCode)), reason: end.reason)
                }
            }
        } catch {
            subscriber.end(.clientGone)
        }
    }

    /// A client too slow to take even the last words (its socket buffers full) is cut off
    /// shortly after its stream ended.
    private static func cutOffWhenTooSlow(_ subscriber: LiveSubscriber, channel: any Channel) async {
        guard await subscriber.waitForEnd() == .tooSlow else { return }
        do { try await Task.sleep(for: .seconds(3)) } catch { return }
        try? await channel.close()
    }

    /// Ends the stream when its token expires.
    private static func expire(_ subscriber: LiveSubscriber, at expiry: Date?) async {
        guard let expiry else { return }
        let wait = expiry.timeIntervalSinceNow
        if wait > 0 {
            do { try await Task.sleep(for: .milliseconds(Int64(min(wait, 86_400 * 365) * 1_000))) } catch { return }
        }
        subscriber.end(.tokenExpired)
    }

    // MARK: Server-sent events

    private func serveEvents(_ request: Request, context: IntakeContext) async throws -> Response {
        let caller = try context.requireCaller()
        try checkOrigin(request)
        var resume: Int64?
        if let id = request.headers[Self.lastEventID] ?? request.uri.queryParameters["last_event_id"].map(String.init) {
            guard let cursor = LiveMessageIDs.cursor(of: id) else {
                throw APIError(.badRequest, "bad_last_event_id", "Last-Event-ID must be an id this stream sent, e.g. \"42\" or \"42-3\"")
            }
            resume = cursor
        }
        var names: [String] = []
        for id in JobsConfig.list(request.uri.queryParameters["events"].map(String.init)) { names.append("event:" + id) }
        switch request.uri.queryParameters["queues"].map(String.init) {
        case nil, "false", "0": break
        case "true", "1": names.append("queues")
        case let other?: throw APIError(.badRequest, "bad_queues", "queues must be true or false, found \(Self.quoted(other))")
        }
        try hub.checkLimits(caller: caller, addressKey: context.addressKey)
        let subscriber = try await hub.connect(caller: caller, addressKey: context.addressKey, resumeFrom: resume, transport: "sse")
        do {
            try await hub.subscribe(subscriber, to: names)
        } catch let problem as LiveHub.SubscriptionProblem {
            hub.disconnect(subscriber, transport: "sse")
            throw APIError(problem.status, problem.code, problem.message)
        } catch {
            hub.disconnect(subscriber, transport: "sse")
            throw error
        }
        let hub = self.hub
        let channel = context.channel
        let pingInterval = hub.settings.pingInterval
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { hub.disconnect(subscriber, transport: "sse") }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await Self.expire(subscriber, at: caller.expiresAt) }
                group.addTask { await Self.cutOffWhenTooSlow(subscriber, channel: channel) }
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: pingInterval) } catch { return }
                        subscriber.deliver(LiveMessage(.ping, json: "null"))
                    }
                }
                await withGracefulShutdownHandler {
                    var ids = LiveMessageIDs(startingAt: subscriber.start)
                    do {
                        try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                        for await message in subscriber.messages {
                            try await writer.write(ByteBuffer(string: Self.eventText(message, ids: &ids)))
                        }
                        switch subscriber.ended {
                        case .tooSlow:
                            let resync = LiveMessage.resync("too_slow", "this stream fell too far behind: read the REST lists again and reconnect")
                            try await writer.write(ByteBuffer(string: Self.eventText(resync, ids: &ids)))
                        case .tokenExpired:
                            var last = ids
                            try await writer.write(ByteBuffer(string: Self.eventText(.error("token_expired", "the token has expired: reconnect with a new one"), ids: &last)))
                        default:
                            break
                        }
                    } catch {
                        subscriber.end(.clientGone)
                    }
                } onGracefulShutdown: {
                    subscriber.end(.shuttingDown)
                }
                group.cancelAll()
            }
            try? await writer.finish(nil)
        })
    }

    /// One SSE event: `id`, `event` (the type) and `data` (the whole message); a ping is a comment.
    static func eventText(_ message: LiveMessage, ids: inout LiveMessageIDs) -> String {
        if message.kind == .ping { return ": ping\n\n" }
        let id = ids.next(for: message)
        return "id: \(id)\nevent: \(message.kind.rawValue)\ndata: \(message.text(id: id))\n\n"
    }

    // MARK: Shared

    /// A browser's Origin must be one of `http.cors_origins` or name the host the request was
    /// sent to (the console's own page). The port is not compared: streams take a bearer token,
    /// never a cookie, so the check keeps other sites' pages out rather than guarding a session;
    /// and some clients send their Origin without the port.
    private func checkOrigin(_ request: Request) throws(APIError) {
        guard let origin = request.headers[.origin] else { return }
        if corsOrigins.contains(origin) { return }
        if let authority = request.head.authority, let host = URL(string: origin)?.host?.lowercased(),
           let requested = URL(string: "http://" + authority)?.host?.lowercased(), host == requested {
            return
        }
        throw APIError(.forbidden, "origin_not_allowed", "origin \(origin) may not open live streams here")
    }

    static func quoted(_ text: String) -> String {
        let shown = text.count > 80 ? String(text.prefix(80)) + "…" : text
        return "\"" + shown.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : String($0) }.joined() + "\""
    }
}

extension IntakeContext {
    /// The per-address limit's key: the client address, IPv6 per /64.
    var addressKey: String? {
        clientAddress.map { IPAddress($0)?.rateLimitKey ?? $0 }
    }
}

extension LiveEnd: Error {}
