import Logging
import Metrics
import NIOCore
import NIOPosix
import PostgresNIO
import Queue
import Synchronization

/// Follows the writable host of a `database.url` that names several (``DatabaseHosts``).
///
/// PostgresNIO's client (1.33) connects to one host and port and has no hook to choose one per
/// connection, so the daemon's clients connect to this relay on 127.0.0.1 instead, and it
/// passes each connection's bytes on to whichever named host is writable now (TLS, if any, is
/// still negotiated end to end). A failover then changes only where new connections go:
/// - a connection arriving while no host is writable (the primary is down and the standby not
///   yet promoted) is held for up to `database.connect_timeout` while the hosts are asked again
///   every `searchPause`, so the pool's reconnects do not pile up their back-off meanwhile;
/// - the writable host is asked once a `checkInterval`; when it is found in recovery or read-only
///   (an old primary back as a standby), or does not answer twice in a row, every connection
///   relayed to it is closed and the pool opens new ones, to the host found writable next.
///
/// Once a host is chosen the relay stays with it while it stays writable, even if a host named
/// earlier becomes writable too: two writable primaries is a split brain, which a failover
/// manager (pg_auto_failover, Patroni) prevents; flapping between them would make it worse.
final class WritableHostRouter: Sendable {
    static let checkInterval: Duration = .seconds(1)
    static let searchPause: Duration = .milliseconds(200)
    /// How long one host may take to say whether it is writable.
    static let probeDeadline: Duration = .seconds(2)

    let hosts: DatabaseHosts
    /// The relay's own port on 127.0.0.1.
    let port: Int
    private let serverChannel: any Channel
    private let connectionConfiguration: @Sendable (DatabaseHosts.Host) -> PostgresConnection.Configuration
    private let holdLimit: Duration
    private let logger: Logger
    private let state = Mutex(State())
    private let switches = Counter(label: "evently_database_host_switches_total")

    private struct State {
        /// Where new connections go; `nil` until a host is found writable.
        var writable: DatabaseHosts.Host?
        /// A search for the writable host in progress, shared by everyone who needs one.
        var search: Task<DatabaseHosts.Host?, Never>?
        /// Open relays and the host each goes to, so they can be closed when it stops being writable.
        var relays: [ObjectIdentifier: (channel: any Channel, host: DatabaseHosts.Host)] = [:]
        var failedChecks = 0
    }

    private init(hosts: DatabaseHosts, port: Int, serverChannel: any Channel, holdLimit: Duration,
                 connectionConfiguration: @escaping @Sendable (DatabaseHosts.Host) -> PostgresConnection.Configuration,
                 logger: Logger) {
        self.hosts = hosts
        self.port = port
        self.serverChannel = serverChannel
        self.holdLimit = holdLimit
        self.connectionConfiguration = connectionConfiguration
        self.logger = logger
    }

    /// Listens on 127.0.0.1 (a free port). `connectionConfiguration` says how to log in to a
    /// host to ask whether it is writable (the daemon's own user, password and TLS).
    static func start(hosts: DatabaseHosts, holdLimit: Duration,
                      connectionConfiguration: @escaping @Sendable (DatabaseHosts.Host) -> PostgresConnection.Configuration,
                      logger: Logger) async throws -> WritableHostRouter {
        let accepted = AsyncStream<any Channel>.makeStream()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Nothing is read from a client until its host is connected.
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                accepted.continuation.yield(channel)
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        let serverChannel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        guard let port = serverChannel.localAddress?.port else {
            try? await serverChannel.close().get()
            throw CommandFailure(message: "the database relay is bound but has no port")
        }
        let router = WritableHostRouter(hosts: hosts, port: port, serverChannel: serverChannel, holdLimit: holdLimit,
                                        connectionConfiguration: connectionConfiguration, logger: logger)
        let acceptLoop = Task { [router] in
            await withDiscardingTaskGroup { group in
                for await channel in accepted.stream {
                    group.addTask { await router.relay(channel) }
                }
            }
        }
        router.acceptLoop.withLock { $0 = acceptLoop }
        serverChannel.closeFuture.whenComplete { _ in accepted.continuation.finish() }
        logger.notice("""
            database.url names \(hosts.hosts.count) hosts (\(hosts.hosts.map(\.description).joined(separator: ", "))): \
            connections go through 127.0.0.1:\(port) to the writable one
            """)
        return router
    }

    private let acceptLoop = Mutex<Task<Void, Never>?>(nil)

    /// Checks the writable host until cancelled, then closes the relay and every connection.
    func run() async {
        _ = await writableHost(within: holdLimit)
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.checkInterval) } catch { break }
            await checkWritableHost()
        }
        try? await serverChannel.close().get()
        let open = state.withLock { state in
            state.search?.cancel()
            return state.relays.values.map(\.channel)
        }
        for channel in open { try? await channel.close().get() }
        await acceptLoop.withLock { $0 }?.value
    }

    // MARK: Relaying

    private func relay(_ inbound: any Channel) async {
        guard let host = await writableHost(within: holdLimit) else {
            logger.warning("no database host is writable within \(holdLimit) (database.connect_timeout): connection refused")
            try? await inbound.close().get()
            return
        }
        do {
            let outbound = try await ClientBootstrap(group: inbound.eventLoop)
                .connectTimeout(.seconds(Int64(Self.probeDeadline.components.seconds)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host.name, port: host.port).get()
            try await inbound.eventLoop.submit {
                let (toHost, toClient) = ByteRelay.pair()
                try inbound.pipeline.syncOperations.addHandler(toHost)
                try outbound.pipeline.syncOperations.addHandler(toClient)
            }.get()
            let key = ObjectIdentifier(inbound)
            // The host may have been given up while this connection was being made.
            let stillWritable = state.withLock { state -> Bool in
                guard state.writable == host else { return false }
                state.relays[key] = (inbound, host)
                return true
            }
            guard stillWritable else {
                try? await inbound.close().get()
                return
            }
            inbound.closeFuture.whenComplete { [self] _ in
                _ = state.withLock { $0.relays.removeValue(forKey: key) }
            }
            try? await inbound.setOption(.autoRead, value: true).get()
        } catch {
            logger.warning("cannot reach database host \(host): \(readableDescription(of: error))")
            forget(host)
            try? await inbound.close().get()
        }
    }

    // MARK: Choosing the host

    /// The writable host, searching (within `limit`) when none is known.
    func writableHost(within limit: Duration) async -> DatabaseHosts.Host? {
        let search = state.withLock { state -> Task<DatabaseHosts.Host?, Never>? in
            if state.writable != nil { return nil }
            if let search = state.search { return search }
            let search = Task { await self.search(until: .now + limit) }
            state.search = search
            return search
        }
        guard let search else { return state.withLock { $0.writable } }
        return await search.value
    }

    private func search(until deadline: ContinuousClock.Instant) async -> DatabaseHosts.Host? {
        defer { state.withLock { $0.search = nil } }
        var answers: [String] = []
        while !Task.isCancelled {
            answers.removeAll()
            for host in hosts.hosts {
                switch await probe(host) {
                case .writable:
                    state.withLock {
                        $0.writable = host
                        $0.failedChecks = 0
                    }
                    logger.notice("database host \(host) is writable: new connections go there")
                    return host
                case .readOnly(let why): answers.append("\(host) \(why)")
                case .unreachable(let why): answers.append("\(host) \(why)")
                }
            }
            guard ContinuousClock.now + Self.searchPause < deadline else { break }
            try? await Task.sleep(for: Self.searchPause)
        }
        logger.warning("no writable database host: \(answers.joined(separator: "; "))")
        return nil
    }

    private func checkWritableHost() async {
        guard let host = state.withLock({ $0.writable }) else {
            _ = await writableHost(within: Self.checkInterval)
            return
        }
        switch await probe(host) {
        case .writable:
            state.withLock { $0.failedChecks = 0 }
        case .readOnly(let why):
            logger.warning("database host \(host) \(why): closing its connections and looking for the writable host")
            forget(host)
        case .unreachable(let why):
            let failed = state.withLock { state -> Int in
                state.failedChecks += 1
                return state.failedChecks
            }
            // One missed answer on a loaded machine is not a failover.
            guard failed >= 2 else { return }
            logger.warning("database host \(host) \(why) (twice): closing its connections and looking for the writable host")
            forget(host)
        }
    }

    /// Stops sending new connections to `host` and closes those relayed to it.
    private func forget(_ host: DatabaseHosts.Host) {
        let closing = state.withLock { state -> [any Channel]? in
            guard state.writable == host else { return nil }
            state.writable = nil
            state.failedChecks = 0
            return state.relays.values.filter { $0.host == host }.map(\.channel)
        }
        guard let closing else { return }
        switches.increment()
        for channel in closing { channel.close(promise: nil) }
    }

    private enum Answer {
        case writable
        case readOnly(String)
        case unreachable(String)
    }

    /// Logs in to `host` and asks whether it takes writes.
    private func probe(_ host: DatabaseHosts.Host) async -> Answer {
        let configuration = connectionConfiguration(host)
        let logger = self.logger
        do {
            return try await withDeadline(Self.probeDeadline) {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                defer { Task { try? await connection.close() } }
                let rows = try await connection.query("""
                    SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'
                    """, logger: logger)
                for try await (inRecovery, readOnly) in rows.decode((Bool, Bool).self) {
                    if inRecovery { return .readOnly("is in recovery (a standby)") }
                    if readOnly { return .readOnly("is read-only (default_transaction_read_only)") }
                    return .writable
                }
                return .unreachable("gave no answer")
            }
        } catch {
            return .unreachable("does not answer: \(readableDescription(of: error))")
        }
    }
}
