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
/// - while no host is known writable, one search asks every host (all at once) every
///   `searchPause` until one is; a connection arriving meanwhile waits for it up to
///   `database.connect_timeout`, so the pool's reconnects do not pile up their back-off;
/// - the writable host is asked once a `checkInterval` on a connection kept for that; found in
///   recovery or read-only (an old primary back as a standby), or silent twice in a row, every
///   connection relayed to it is closed, and the pool's new ones go where the search finds.
///
/// Once a host is chosen the relay stays with it while it stays writable, even if a host named
/// earlier becomes writable too: two writable primaries is a split brain, which a failover
/// manager (pg_auto_failover, Patroni) prevents; flapping between them would make it worse.
final class WritableHostRouter: Sendable {
    static let checkInterval: Duration = .seconds(1)
    static let searchPause: Duration = .milliseconds(200)
    /// How long one host may take to say whether it is writable.
    static let probeDeadline: Duration = .seconds(2)
    /// Every this many checks the other hosts are asked whether one was promoted past ours.
    static let othersCheckedEvery = 5

    let hosts: DatabaseHosts
    /// The relay's own port on 127.0.0.1.
    let port: Int
    private let serverChannel: any Channel
    private let login: @Sendable (DatabaseHosts.Host) -> PostgresConnection.Configuration
    private let holdLimit: Duration
    private let logger: Logger
    private let state = Mutex(State())
    private let acceptLoop = Mutex<Task<Void, Never>?>(nil)
    private let switches = Counter(label: "evently_database_host_switches_total")

    private struct State {
        /// Where new connections go; `nil` until a host is found writable.
        var writable: DatabaseHosts.Host?
        /// The search for the writable host, while none is known.
        var search: Task<DatabaseHosts.Host?, Never>?
        /// Open relays and the host each goes to, so they can be closed when it stops being writable.
        var relays: [ObjectIdentifier: (channel: any Channel, host: DatabaseHosts.Host)] = [:]
        var failedChecks = 0
        /// Checks that found the host writable, for ``othersCheckedEvery``.
        var writableChecks = 0
        /// The connection the writable host is checked on.
        var watch: PostgresConnection?
        var closed = false
    }

    private init(hosts: DatabaseHosts, port: Int, serverChannel: any Channel, holdLimit: Duration,
                 login: @escaping @Sendable (DatabaseHosts.Host) -> PostgresConnection.Configuration, logger: Logger) {
        self.hosts = hosts
        self.port = port
        self.serverChannel = serverChannel
        self.holdLimit = holdLimit
        self.login = login
        self.logger = logger
    }

    /// Listens on 127.0.0.1 (a free port). `login` says how to log in to a host to ask whether
    /// it is writable (the daemon's own user, password and TLS).
    static func start(hosts: DatabaseHosts, holdLimit: Duration,
                      login: @escaping @Sendable (DatabaseHosts.Host) -> PostgresConnection.Configuration,
                      logger: Logger) async throws -> WritableHostRouter {
        let accepted = AsyncStream<any Channel>.makeStream()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Nothing is read from a client until its relay to the host is in place.
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                if case .terminated = accepted.continuation.yield(channel) { return channel.close() }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        let serverChannel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        guard let port = serverChannel.localAddress?.port else {
            try? await serverChannel.close().get()
            throw CommandFailure(message: "the database relay is bound but has no port")
        }
        let router = WritableHostRouter(hosts: hosts, port: port, serverChannel: serverChannel, holdLimit: holdLimit,
                                        login: login, logger: logger)
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
            connections go through 127.0.0.1:\(port) to the \(hosts.requirement == .primary ? "primary" : "writable") one
            """)
        return router
    }

    /// Checks the writable host until cancelled, then closes the relay and every connection.
    func run() async {
        startSearchIfNeeded()
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.checkInterval) } catch { break }
            await checkWritableHost()
        }
        let (open, search, watch) = state.withLock { state in
            state.closed = true
            defer { state.search = nil; state.watch = nil }
            return (state.relays.values.map(\.channel), state.search, state.watch)
        }
        search?.cancel()
        try? await serverChannel.close().get()
        for channel in open { channel.close(promise: nil) }
        try? await watch?.close()
        await acceptLoop.withLock { $0 }?.value
    }

    // MARK: Relaying

    private func relay(_ inbound: any Channel) async {
        guard let host = await writableHost(within: holdLimit), inbound.isActive else {
            if inbound.isActive {
                logger.warning("no database host is writable within \(holdLimit) (database.connect_timeout): connection refused")
            }
            inbound.close(promise: nil)
            return
        }
        let outbound: any Channel
        do {
            outbound = try await ClientBootstrap(group: inbound.eventLoop)
                .connectTimeout(.seconds(Int64(Self.probeDeadline.components.seconds)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: host.name, port: host.port).get()
        } catch {
            // Ask the host at once rather than at the next check: a crashed primary refuses
            // connections, and the sooner it is left the sooner the pool finds the promoted one.
            // One failed connect alone (a full backlog, a moment's overload) does not drop it.
            logger.warning("cannot reach database host \(host): \(readableDescription(of: error))")
            inbound.close(promise: nil)
            if case .writable = await probe(host) { return }
            logger.warning("database host \(host) does not answer a check either: closing its connections and looking for the writable host")
            forget(host)
            return
        }
        do {
            // Both ends are installed before the client's bytes are read (autoRead is off until then).
            try await inbound.eventLoop.submit {
                let (toHost, toClient) = ByteRelay.pair()
                try inbound.pipeline.syncOperations.addHandler(toHost)
                try outbound.pipeline.syncOperations.addHandler(toClient)
            }.get()
        } catch {
            // The client went away meanwhile: nothing wrong with the host.
            outbound.close(promise: nil)
            inbound.close(promise: nil)
            return
        }
        let key = ObjectIdentifier(inbound)
        // The host may have been given up (or the relay closed) while this connection was made.
        let registered = state.withLock { state -> Bool in
            guard !state.closed, state.writable == host else { return false }
            state.relays[key] = (inbound, host)
            return true
        }
        guard registered else {
            inbound.close(promise: nil)
            return
        }
        inbound.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.relays.removeValue(forKey: key) }
        }
        inbound.setOption(.autoRead, value: true).whenFailure { _ in inbound.close(promise: nil) }
    }

    // MARK: Choosing the host

    /// The writable host, waiting up to `limit` for the search when none is known.
    func writableHost(within limit: Duration) async -> DatabaseHosts.Host? {
        guard let search = startSearchIfNeeded() else { return state.withLock { $0.writable } }
        return try? await withDeadline(limit) { await search.value }
    }

    /// The search in progress, started if none is and no host is known; `nil` when a host is known.
    @discardableResult
    private func startSearchIfNeeded() -> Task<DatabaseHosts.Host?, Never>? {
        state.withLock { state in
            if state.writable != nil || state.closed { return nil }
            if let search = state.search { return search }
            let search = Task { await self.search() }
            state.search = search
            return search
        }
    }

    /// Asks every host at once, again and again, until one is writable (or the relay closes).
    private func search() async -> DatabaseHosts.Host? {
        var lastAnswers = ""
        while !Task.isCancelled {
            let answers = await probeAll(hosts.hosts)
            // Of the writable ones, the one on the newest timeline (a promoted standby, not an
            // old primary that came back writable), then the first in the URL's order.
            let writable = answers.enumerated().compactMap { index, answer -> (index: Int, timeline: Int64)? in
                if case .writable(let timeline) = answer { (index, timeline) } else { nil }
            }
            if let chosen = writable.max(by: { $0.timeline < $1.timeline || ($0.timeline == $1.timeline && $0.index > $1.index) }) {
                let host = hosts.hosts[chosen.index]
                state.withLock { state in
                    state.writable = host
                    state.failedChecks = 0
                    state.search = nil
                }
                logger.notice("database host \(host) is writable (timeline \(chosen.timeline)): new connections go there")
                if writable.count > 1 {
                    logger.warning("""
                        more than one database host is writable: \(writable.map { "\(hosts.hosts[$0.index]) (timeline \($0.timeline))" }
                            .joined(separator: ", ")); chose the newest timeline; fence or rebuild the others
                        """)
                }
                return host
            }
            let summary = zip(hosts.hosts, answers).map { host, answer in "\(host) \(answer)" }.joined(separator: "; ")
            if summary != lastAnswers {
                logger.warning("no writable database host yet: \(summary)")
                lastAnswers = summary
            }
            do { try await Task.sleep(for: Self.searchPause) } catch { break }
        }
        state.withLock { $0.search = nil }
        return nil
    }

    private func checkWritableHost() async {
        guard let host = state.withLock({ $0.writable }) else {
            startSearchIfNeeded()
            return
        }
        let answer = await probe(host, keepingConnection: true)
        // The host may have been given up meanwhile (a failed connect): this answer is stale.
        guard state.withLock({ $0.writable == host }) else { return }
        switch answer {
        case .writable(let timeline):
            let checks = state.withLock { state -> Int in
                state.failedChecks = 0
                state.writableChecks += 1
                return state.writableChecks
            }
            if checks % Self.othersCheckedEvery == 0 { await leaveIfSuperseded(host, timeline: timeline) }
        case .readOnly(let why):
            logger.warning("database host \(host) \(why): closing its connections and looking for the writable host")
            forget(host)
        case .unreachable(let why):
            let failed = state.withLock { state -> Int in
                guard state.writable == host else { return 0 }
                state.failedChecks += 1
                return state.failedChecks
            }
            // One missed answer on a loaded machine is not a failover.
            guard failed >= 2 else { return }
            logger.warning("database host \(host) \(why) (twice in a row): closing its connections and looking for the writable host")
            forget(host)
        }
    }

    /// A standby promoted while the old primary stays writable (a failover manager that could not
    /// fence it, a promotion by hand) would leave the daemon writing where nobody reads: so now
    /// and then the other hosts are asked too, and one writable on a newer timeline wins.
    private func leaveIfSuperseded(_ host: DatabaseHosts.Host, timeline: Int64) async {
        let others = hosts.hosts.filter { $0 != host }
        let newer = zip(others, await probeAll(others)).compactMap { other, answer -> (DatabaseHosts.Host, Int64)? in
            if case .writable(let theirs) = answer, theirs > timeline { (other, theirs) } else { nil }
        }
        guard let (successor, theirs) = newer.max(by: { $0.1 < $1.1 }) else { return }
        logger.warning("""
            database host \(successor) is writable on a newer timeline (\(theirs)) than \(host) (\(timeline)): \(host) was \
            superseded (fence it); closing its connections
            """)
        forget(host)
    }

    /// Asks `hosts` at once; the answers in their order.
    private func probeAll(_ hosts: [DatabaseHosts.Host]) async -> [Answer] {
        await withTaskGroup(of: (Int, Answer).self) { group in
            for (index, host) in hosts.enumerated() {
                group.addTask { (index, await self.probe(host)) }
            }
            return await group.reduce(into: [Answer](repeating: .unreachable(""), count: hosts.count)) { $0[$1.0] = $1.1 }
        }
    }

    /// Stops sending new connections to `host`, closes those relayed to it and starts a search.
    private func forget(_ host: DatabaseHosts.Host) {
        let forgotten = state.withLock { state -> (relays: [any Channel], watch: PostgresConnection?)? in
            guard state.writable == host else { return nil }
            state.writable = nil
            state.failedChecks = 0
            state.writableChecks = 0
            defer { state.watch = nil }
            return (state.relays.values.filter { $0.host == host }.map(\.channel), state.watch)
        }
        guard let forgotten else { return }
        switches.increment()
        for channel in forgotten.relays { channel.close(promise: nil) }
        if let watch = forgotten.watch { Task { try? await watch.close() } }
        startSearchIfNeeded()
    }

    private enum Answer: CustomStringConvertible {
        /// With the server's current timeline (it grows with each promotion).
        case writable(timeline: Int64)
        case readOnly(String)
        case unreachable(String)

        var description: String {
            switch self {
            case .writable(let timeline): "is writable (timeline \(timeline))"
            case .readOnly(let why), .unreachable(let why): why
            }
        }
    }

    /// Logs in to `host` (or, `keepingConnection`, reuses the connection kept for checks) and asks
    /// whether it will do. A connection that does not answer within the deadline is closed.
    private func probe(_ host: DatabaseHosts.Host, keepingConnection: Bool = false) async -> Answer {
        let configuration = login(host)
        let logger = self.logger
        let requirement = hosts.requirement
        // The connection opened for this probe; `abandoned` once the deadline passed, so that a
        // connect that completes later closes what it opened.
        let opened = Mutex<(connection: PostgresConnection?, abandoned: Bool)>((nil, false))
        // The kept connection is to the writable host; a check of another host (it changed
        // meanwhile) opens its own.
        let kept = keepingConnection ? state.withLock { $0.writable == host ? $0.watch : nil } : nil
        do {
            let answer = try await withDeadline(Self.probeDeadline) { () -> Answer in
                let connection: PostgresConnection
                if let kept {
                    connection = kept
                } else {
                    connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                    let abandoned = opened.withLock { opened in
                        opened.connection = connection
                        return opened.abandoned
                    }
                    if abandoned {
                        try? await connection.close()
                        throw CancellationError()
                    }
                }
                // The timeline is the first 8 hex digits of the current WAL file's name (there is
                // no function for it outside recovery; pg_control_checkpoint() lags until a checkpoint).
                let rows = try await connection.query("""
                    SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on',
                           CASE WHEN pg_is_in_recovery() THEN 0
                                ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::bigint END
                    """, logger: logger)
                for try await (inRecovery, readOnly, timeline) in rows.decode((Bool, Bool, Int64).self) {
                    if inRecovery { return .readOnly("is in recovery (a standby)") }
                    if readOnly && requirement == .readWrite { return .readOnly("is read-only (default_transaction_read_only)") }
                    return .writable(timeline: timeline)
                }
                return .unreachable("gave no answer")
            }
            if let connection = opened.withLock({ $0.connection }) {
                if keepingConnection, case .writable = answer {
                    // Kept only while it is the writable host's (and the relay is open).
                    let (kept, replaced) = state.withLock { state -> (Bool, PostgresConnection?) in
                        guard state.writable == host, !state.closed else { return (false, nil) }
                        defer { state.watch = connection }
                        return (true, state.watch)
                    }
                    if let replaced { try? await replaced.close() }
                    if !kept { try? await connection.close() }
                } else {
                    try? await connection.close()
                }
            }
            return answer
        } catch {
            // A connection that did not answer in time may never answer: close it from here.
            let connection = opened.withLock { opened in
                opened.abandoned = true
                return opened.connection
            }
            try? await connection?.close()
            if let kept {
                let dropped = state.withLock { state -> Bool in
                    guard state.watch === kept else { return false }
                    state.watch = nil
                    return true
                }
                if dropped { try? await kept.close() }
            }
            return .unreachable("does not answer: \(readableDescription(of: error))")
        }
    }
}
