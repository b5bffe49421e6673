import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// A TCP proxy on 127.0.0.1 in front of a server (a TCP port or a unix socket) that can cut the
/// traffic off the way a network partition does: `blackHole()` keeps every connection open and
/// delivers nothing in either direction; `heal()` delivers what was held, in order, and passes
/// again (TCP would have retransmitted it); `dropConnections()` closes every connection as a
/// restarted peer or a load balancer would.
public final class FaultProxy: Sendable {
    public let port: Int
    private let serverChannel: any Channel
    private let links: LinkRegistry

    private init(port: Int, serverChannel: any Channel, links: LinkRegistry) {
        self.port = port
        self.serverChannel = serverChannel
        self.links = links
    }

    /// A proxy to a unix socket (the embedded PostgreSQL's).
    public static func start(toUnixSocket path: String) async throws -> FaultProxy {
        try await start { eventLoop in
            ClientBootstrap(group: eventLoop).connect(unixDomainSocketPath: path)
        }
    }

    /// A proxy to `host:port`.
    public static func start(toHost host: String, port: Int) async throws -> FaultProxy {
        try await start { eventLoop in
            ClientBootstrap(group: eventLoop).connect(host: host, port: port)
        }
    }

    private static func start(connectUpstream: @escaping @Sendable (any EventLoop) -> EventLoopFuture<any Channel>) async throws -> FaultProxy {
        let links = LinkRegistry()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Nothing is read from the client before the upstream connection exists.
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                connectUpstream(client.eventLoop).flatMap { server in
                    let link = links.open(client: client, server: server)
                    return server.pipeline.addHandler(Forwarder(direction: link.down, peer: client)).flatMap {
                        client.pipeline.addHandler(Forwarder(direction: link.up, peer: server))
                    }.flatMap {
                        server.setOption(.autoRead, value: true)
                    }.flatMap {
                        client.setOption(.autoRead, value: true)
                    }
                }
            }
        let channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close().get()
            throw TestServerError("the fault proxy is bound but has no local port")
        }
        return FaultProxy(port: port, serverChannel: channel, links: links)
    }

    /// `database` reached through this proxy (plain TCP on loopback) instead of directly.
    public func clientConfiguration(to database: PostgresClient.Configuration) -> PostgresClient.Configuration {
        PostgresClient.Configuration(host: "127.0.0.1", port: port, username: database.username,
                                     password: database.password, database: database.database, tls: .disable)
    }

    /// From now on nothing passes in either direction; connections stay open.
    public func blackHole() { links.setHeld(true) }

    /// Delivers what was held, in order, and passes traffic again.
    public func heal() { links.setHeld(false) }

    /// Closes every open connection (new ones are still accepted).
    public func dropConnections() { links.closeAll() }

    /// How many client connections are open now.
    public var openConnections: Int { links.count }

    public func stop() async {
        try? await serverChannel.close().get()
        links.closeAll()
    }
}

/// One direction of one connection: bytes on their way, or held while black-holed.
final class Direction: Sendable {
    private struct State {
        var held: [ByteBuffer] = []
        var holding: Bool
    }
    private let state: Mutex<State>

    init(holding: Bool) { state = Mutex(State(holding: holding)) }

    /// Forwards `bytes` to `peer`, or keeps them while holding. Writes are issued under the lock
    /// so that held bytes and new ones reach the peer in the order they arrived.
    func pass(_ bytes: ByteBuffer, to peer: any Channel) {
        state.withLock { state in
            if state.holding {
                state.held.append(bytes)
            } else {
                peer.writeAndFlush(bytes, promise: nil)
            }
        }
    }

    func setHolding(_ holding: Bool, peer: any Channel) {
        state.withLock { state in
            state.holding = holding
            guard !holding else { return }
            for bytes in state.held { peer.write(bytes, promise: nil) }
            state.held.removeAll()
            peer.flush()
        }
    }
}

/// Every open link, so that a fault reaches all of them at once.
final class LinkRegistry: Sendable {
    struct Link: Sendable {
        let client: any Channel
        let server: any Channel
        let up: Direction
        let down: Direction
    }
    private let state = Mutex<(links: [ObjectIdentifier: Link], holding: Bool)>(([:], false))

    func open(client: any Channel, server: any Channel) -> Link {
        state.withLock { state in
            let link = Link(client: client, server: server,
                            up: Direction(holding: state.holding), down: Direction(holding: state.holding))
            state.links[ObjectIdentifier(client)] = link
            client.closeFuture.whenComplete { _ in
                server.close(promise: nil)
                _ = self.state.withLock { $0.links.removeValue(forKey: ObjectIdentifier(client)) }
            }
            server.closeFuture.whenComplete { _ in client.close(promise: nil) }
            return link
        }
    }

    func setHeld(_ holding: Bool) {
        let links = state.withLock { state in
            state.holding = holding
            return Array(state.links.values)
        }
        for link in links {
            link.up.setHolding(holding, peer: link.server)
            link.down.setHolding(holding, peer: link.client)
        }
    }

    func closeAll() {
        let links = state.withLock { Array($0.links.values) }
        for link in links {
            link.client.close(promise: nil)
            link.server.close(promise: nil)
        }
    }

    var count: Int { state.withLock { $0.links.count } }
}

/// Reads from one side and hands the bytes to the direction that delivers them to the other.
final class Forwarder: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let direction: Direction
    let peer: any Channel

    init(direction: Direction, peer: any Channel) {
        self.direction = direction
        self.peer = peer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        direction.pass(unwrapInboundIn(data), to: peer)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
