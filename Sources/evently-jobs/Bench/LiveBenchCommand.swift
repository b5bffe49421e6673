import ArgumentParser
import AsyncHTTPClient
import BookingCore
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PostgresNIO
import Queue
import Synchronization
import Workers
#if canImport(Glibc)
import Glibc
#endif

/// `evently-jobs bench live`: live streams against real `evently-jobs serve` processes. Memory
/// and idle CPU of one daemon holding thousands of streams; the time from a booking's commit to
/// the seats-left message at its subscribers, beside a bare LISTEN/NOTIFY round trip measured in
/// the same run (interleaved); one hot event fanned out to every stream; and the same latency
/// when the booking is taken through another daemon.
struct LiveBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Measure live streams: memory and idle CPU per connection, commit-to-message latency against a bare NOTIFY, fan-out, two daemons.",
        discussion: """
            On a fresh evently_bench_live database: starts `evently-jobs serve` (daemon A) and opens --connections
            streams to it, every one watching one hot event (VmRSS and utime+stime of the daemon before and after);
            books the hot event --hot-bookings times and times each message to the last stream; opens --subscribers
            streams per spread event and books at --rate per second round robin over --events events (committed by
            this process, BookingStore + follow-ups as the intake does), alternating with a bare NOTIFY at the same
            rate to a plain LISTEN connection; then starts daemon B with the same streams per event and books through
            A's POST /v1/bookings, again beside the bare NOTIFY.
            Example: evently-jobs bench live --config jobs.conf --connections 5000
            """)

    enum Transport: String, ExpressibleByArgument, CaseIterable, Sendable {
        case websocket, sse
    }

    @OptionGroup var options: ConfigOptions
    @Option(help: "Streams held by daemon A, all watching the hot event.") var connections = 5_000
    @Option(help: "websocket (GET /v1/live) or sse (GET /v1/live/events).") var transport: Transport = .websocket
    // Named apart from `bench`'s own --rate and --rounds, which would take these.
    @Option(name: .customLong("booking-rate"), help: "Bookings (and bare NOTIFYs) per second in the latency runs.") var rate = 200
    @Option(help: "Seconds per latency measurement.") var seconds = 10
    @Option(name: .customLong("latency-rounds"), help: "Rounds of bare NOTIFY then bookings, per setup (one daemon, two daemons).") var rounds = 2
    @Option(help: "Events the bookings are spread over, round robin.") var events = 100
    @Option(help: "Streams per spread event, on each daemon.") var subscribers = 3
    @Option(help: "Concurrent senders of bookings and NOTIFYs (each owns a share of the events).") var senders = 20
    @Option(help: "Bookings of the hot event, one at a time, each timed to its last stream.") var hotBookings = 5
    @Option(help: "Seconds over which idle CPU is measured (without streams, then with them).") var idleSeconds = 10
    @Option(help: "Streams being opened at once.") var openConcurrency = 100
    @Option(help: "database.pool_size of each daemon (12 in the shipped jobs.conf).") var poolSize = 12

    static let secret = "bench-live-secret-0123456789abcdef0123456789"
    static let channel = "evently_bench_live"
    static let database = "evently_bench_live"

    func validate() throws {
        guard connections > 0, rate > 0, seconds > 0, rounds > 0, events > 0, subscribers > 0, senders > 0,
              hotBookings > 0, idleSeconds > 0, openConcurrency > 0 else {
            throw ValidationError("every number must be positive")
        }
        guard senders <= events else { throw ValidationError("--senders must not exceed --events (each sender owns events)") }
    }

    func run() async throws {
        let files = Self.raiseFileLimit()
        try await options.withDatabase(logLevel: { _ in .warning }) { config, logger, base in
            let configuration = try await BenchCommand.freshDatabase(Self.database, base: base, logger: logger)
            let tls = try DatabaseLocation.connectionTLS(url: config.database.url)
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
                timeout: .init(connect: .seconds(30)),
                connectionPool: .init(idleTimeout: .seconds(300),
                                      concurrentHTTP1ConnectionsPerHostSoftLimit: connections + 2 * events * subscribers + 4 * senders + 64)))
            do {
                try await client.whileRunning {
                    try await DatabaseSchema.migrator(logger: logger).migrate(client)
                    print("evently-jobs bench live: \(connections) \(transport.rawValue) streams, \(rate) bookings/s over \(events) events "
                          + "× \(subscribers) streams, \(seconds) s × \(rounds) rounds, \(ProcessInfo.processInfo.activeProcessorCount) cores, "
                          + "open files \(files)")
                    try await measure(client: client, configuration: configuration, tls: tls, http: http, logger: logger)
                }
            } catch {
                try? await http.shutdown()
                throw error
            }
            try await http.shutdown()
        }
    }

    // MARK: The run

    func measure(client: PostgresClient, configuration: PostgresClient.Configuration, tls: PostgresConnection.Configuration.TLS,
                 http: HTTPClient, logger: Logger) async throws {
        var figures = LiveBenchFigures()
        let setup = try await prepare(client: client, logger: logger)
        // Bookings enqueue their notification jobs; nobody works them here (as bench-bookings).
        try await JobClient(client: client, logger: logger).setPaused(true, queue: NotificationDispatch.queue)

        // 0. Baseline for memory: a daemon of its own holding as many plain HTTP/1.1 keep-alive
        // connections, each idle after one GET /healthz (its memory is not reused by what follows).
        do {
            let plain = try await startDaemon(client: client, configuration: configuration, liveListeners: 1, http: http, logger: logger)
            defer { plain.serve.stop() }
            await LiveBenchPlainConnection.close(try await openPlain(count: min(20, connections), port: plain.port))
            try await Task.sleep(for: .seconds(2))
            figures.plainBefore = LiveProcessStats.residentKiB(pid: plain.serve.process.pid)
            let held = try await openPlain(count: connections, port: plain.port)
            try await Task.sleep(for: .seconds(3))
            figures.plainWith = LiveProcessStats.residentKiB(pid: plain.serve.process.pid)
            await LiveBenchPlainConnection.close(held)
            print(String(format: "baseline daemon with %d idle keep-alive HTTP connections: RSS %.1f → %.1f MiB, %.1f kB per connection",
                         connections, figures.plainBefore / 1024, figures.plainWith / 1024,
                         (figures.plainWith - figures.plainBefore) * 1.024 / Double(connections)))
            plain.serve.process.terminate(within: .seconds(60))
        }
        try await Task.sleep(for: .seconds(1))   // its backends gone from pg_stat_activity

        let daemonA = try await startDaemon(client: client, configuration: configuration, liveListeners: 1, http: http, logger: logger)
        defer { daemonA.serve.stop() }
        let tokens = try LiveBenchTokens(serve: daemonA.serve)
        var clientLogger = logger
        clientLogger.logLevel = .error

        // Warm-up: a few streams opened and closed, so that one-time allocations are not counted.
        let warm = try await openStreams(count: min(20, connections), port: daemonA.port, event: { _ in setup.hot },
                                         tokens: tokens, http: http, logger: clientLogger)
        await Self.close(warm)
        try await Task.sleep(for: .seconds(2))

        // 1. Memory and idle CPU, without streams and with them.
        let pid = daemonA.serve.process.pid
        figures.rssBefore = LiveProcessStats.residentKiB(pid: pid)
        figures.idleCPUBefore = try await Self.cpuShare(pid: pid, over: .seconds(idleSeconds))
        print(String(format: "daemon A without streams: RSS %.1f MiB, idle CPU %.2f %% of a core",
                     figures.rssBefore / 1024, figures.idleCPUBefore * 100))
        let opening = ContinuousClock.now
        let hotStreams = try await openStreams(count: connections, port: daemonA.port, event: { _ in setup.hot },
                                               tokens: tokens, http: http, logger: clientLogger)
        figures.openSeconds = (ContinuousClock.now - opening).timeInterval
        try await Task.sleep(for: .seconds(3))
        figures.rssWith = LiveProcessStats.residentKiB(pid: pid)
        figures.idleCPUWith = try await Self.cpuShare(pid: pid, over: .seconds(idleSeconds))
        print(String(format: "daemon A with %d streams (opened in %.1f s): RSS %.1f MiB, %.1f kB per stream, idle CPU %.2f %% of a core",
                     connections, figures.openSeconds, figures.rssWith / 1024,
                     (figures.rssWith - figures.rssBefore) * 1.024 / Double(connections), figures.idleCPUWith * 100))

        // 2. One hot event to every stream.
        let store = LiveBenchBooker(client: client, logger: logger)
        for index in 0..<hotBookings {
            let seats = try await store.seats(of: [setup.hot])[0] - 1
            let daemonCPU = LiveProcessStats.cpuSeconds(pid: pid), benchCPU = LiveProcessStats.cpuSeconds(pid: getpid())
            let commit = try await store.book(user: setup.users[0], event: setup.hot)
            let arrivals = try await Self.waitForAll(hotStreams, seatsAtMost: seats, within: .seconds(60))
            figures.hotCPU.append((daemon: LiveProcessStats.cpuSeconds(pid: pid) - daemonCPU,
                                   bench: LiveProcessStats.cpuSeconds(pid: getpid()) - benchCPU))
            let fromReturned = arrivals.map { ($0 - commit.returned).timeInterval * 1000 }
            let fromSent = arrivals.map { ($0 - commit.sent).timeInterval * 1000 }
            figures.hot.append(.init(lastFromReturned: fromReturned.max() ?? .nan, lastFromSent: fromSent.max() ?? .nan,
                                     medianFromReturned: BenchReport.percentile(fromReturned, 0.5), missing: connections - arrivals.count))
            print(String(format: "hot booking %d: last of %d streams %.1f ms after COMMIT returned (median stream %.1f ms)%@",
                         index + 1, arrivals.count, fromReturned.max() ?? .nan, BenchReport.percentile(fromReturned, 0.5),
                         arrivals.count < connections ? ", \(connections - arrivals.count) never got it" : ""))
            try await Task.sleep(for: .seconds(1))
        }

        // 3. Latency with one daemon: bookings committed here, streams on A.
        let onA = try await openSpreadStreams(port: daemonA.port, setup: setup, tokens: tokens, http: http, logger: clientLogger)
        let listener = try await LiveBenchListener.start(configuration: PostgresConnection.Configuration(sameServerAs: configuration, tls: tls),
                                                        channel: Self.channel, logger: logger)
        defer { listener.stop() }
        for round in 1...rounds {
            let bare = try await bareNotify(tag: "one-\(round)", client: client, listener: listener, logger: logger)
            figures.bareOne.add(bare)
            let commits = try await bookings(client: client, setup: setup, logger: logger) { sender, event in
                try await store.book(user: setup.users[sender], event: event)
            }
            let live = try await Self.latencies(commits, streams: onA)
            figures.direct.add(live)
            print(Self.roundLine("one daemon, round \(round)", bare: bare, live: live, liveName: "booking committed here → stream on A"))
        }

        // 4. Two daemons: bookings through A's HTTP intake, streams on A and on B.
        let daemonB = try await startDaemon(client: client, configuration: configuration, liveListeners: 2, http: http, logger: logger)
        defer { daemonB.serve.stop() }
        let onB = try await openSpreadStreams(port: daemonB.port, setup: setup, tokens: tokens, http: http, logger: clientLogger)
        var bookers: [String] = []
        for (index, user) in setup.users.enumerated() {
            bookers.append(try await tokens.sign(user: user, role: index == 0 ? "admin" : "user", email: "live-bench-\(index)@example.org"))
        }
        let intake = LiveBenchIntake(http: http, port: daemonA.port)
        let bookerTokens = bookers
        for token in bookerTokens { try await intake.warmUp(token: token) }
        for round in 1...rounds {
            let bare = try await bareNotify(tag: "two-\(round)", client: client, listener: listener, logger: logger)
            figures.bareTwo.add(bare)
            let commits = try await bookings(client: client, setup: setup, logger: logger) { sender, event in
                try await intake.book(token: bookerTokens[sender], event: event)
            }
            let other = try await Self.latencies(commits, streams: onB)
            let same = try await Self.latencies(commits, streams: onA)
            figures.httpOther.add(other)
            figures.httpSame.add(same)
            print(Self.roundLine("two daemons, round \(round)", bare: bare, live: other, liveName: "booked through A's HTTP → stream on B"))
            print(Self.roundLine("two daemons, round \(round)", bare: bare, live: same, liveName: "booked through A's HTTP → stream on A"))
        }

        figures.dropped = (hotStreams + onA.joined() + onB.joined()).filter(\.hasEnded).count
        let closing = ContinuousClock.now
        await Self.close(hotStreams + onA.joined() + onB.joined())
        // The daemon lets a stream go when it notices its client left (its gauge says when).
        while try await Self.liveConnections(http: http, port: daemonA.port) > 0, ContinuousClock.now - closing < .seconds(120) {
            try await Task.sleep(for: .milliseconds(200))
        }
        figures.releasedSeconds = (ContinuousClock.now - closing).timeInterval
        figures.stillOpen = try await Self.liveConnections(http: http, port: daemonA.port)
        try await Task.sleep(for: .seconds(3))
        figures.rssAfterClose = LiveProcessStats.residentKiB(pid: pid)
        // The same number again: memory freed by the closed streams is reused (no leak) or not.
        let again = try await openStreams(count: connections, port: daemonA.port, event: { _ in setup.hot },
                                          tokens: tokens, http: http, logger: clientLogger)
        try await Task.sleep(for: .seconds(3))
        figures.rssReopened = LiveProcessStats.residentKiB(pid: pid)
        await Self.close(again)
        print(figures.table(connections: connections, transport: transport, rate: rate, events: events, subscribers: subscribers,
                            seconds: seconds, rounds: rounds))
    }

    // MARK: Setup

    struct Setup: Sendable {
        /// One booking user per sender (their rows exist).
        var users: [UUID]
        var hot: UUID
        var spread: [UUID]
    }

    func prepare(client: PostgresClient, logger: Logger) async throws -> Setup {
        let userStore = UserStore(logger: logger)
        var users: [UUID] = []
        for index in 0..<senders {
            let id = UUID()
            _ = try await client.withOpenConnection { connection in
                try await userStore.upsert(UserClaims(id: id, email: "live-bench-\(index)@example.org", role: index == 0 ? .admin : .user),
                                           now: Date(), on: connection)
            }
            users.append(id)
        }
        try await client.query("CREATE TABLE public.live_bench_commits (payload text NOT NULL)", logger: logger)
        let eventStore = EventStore(logger: logger)
        func event(_ name: String) async throws -> UUID {
            try await client.withOpenConnection { connection in
                try await eventStore.create(NewEvent(name: name, venue: "Bench Hall", startsAt: Date().addingTimeInterval(86_400 * 30),
                                                     capacity: 5_000_000, basePrice: 25),
                                            by: users[0], now: Date(), on: connection).id
            }
        }
        let hot = try await event("hot")
        var spread: [UUID] = []
        for index in 0..<events { spread.append(try await event("spread \(index)")) }
        return Setup(users: users, hot: hot, spread: spread)
    }

    struct LiveDaemon {
        var serve: ServeProcess
        var port: Int
    }

    /// A real `evently-jobs serve` with HTTP on a free port, limits high enough for the run, rate
    /// limits and the scheduler off; returns once it answers /readyz and its live LISTEN is up
    /// (`liveListeners` counts every daemon's, this one's included).
    func startDaemon(client: PostgresClient, configuration: PostgresClient.Configuration, liveListeners: Int, http: HTTPClient,
                     logger: Logger) async throws -> LiveDaemon {
        let port = try ConsoleBenchCommand.BenchDaemon.freePort()
        let limit = max(20_000, connections + 2 * events * subscribers + 100)
        let serve = try await BenchCommand.startServe(configuration: """
            [database]
            url = "\(BenchCommand.url(for: configuration))"
            pool_size = \(poolSize)
            [http]
            enabled = true
            host = "127.0.0.1"
            port = \(port)
            rate_limit_per_user = 0
            rate_limit_per_ip = 0
            [auth]
            jwt_secret = "\(Self.secret)"
            [log]
            level = "warning"
            [scheduler]
            enabled = false
            [live]
            max_connections = \(limit)
            max_connections_per_ip = \(limit)
            """, client: client, logger: logger)
        do {
            let deadline = ContinuousClock.now + .seconds(60)
            while true {
                let status = try? await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz"), timeout: .seconds(5)).status
                if status == .ok, try await Self.liveListenerCount(client: client, logger: logger) >= liveListeners { break }
                guard serve.process.isRunning, ContinuousClock.now < deadline else {
                    throw CommandFailure(message: "the daemon on port \(port) did not become ready (readyz \(status.map { "\($0.code)" } ?? "no answer"))")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            serve.stop()
            throw error
        }
        return LiveDaemon(serve: serve, port: port)
    }

    /// The streams a daemon holds, by its `evently_live_connections` gauges.
    static func liveConnections(http: HTTPClient, port: Int) async throws -> Int {
        let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
        return body.split(separator: "\n")
            .filter { $0.hasPrefix("evently_live_connections{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            .reduce(0) { $0 + Int($1) }
    }

    static func liveListenerCount(client: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await client.query("""
            SELECT count(*)::bigint FROM pg_stat_activity
            WHERE datname = current_database() AND query LIKE 'LISTEN%evently_live%'
            """, logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// The process's soft limit on open files raised to its hard limit (the daemons inherit it).
    static func raiseFileLimit() -> UInt64 {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return UInt64(limit.rlim_cur)
    }

    // MARK: Streams

    func openStreams(count: Int, port: Int, event: (Int) -> UUID, tokens: LiveBenchTokens, http: HTTPClient,
                     logger: Logger) async throws -> [LiveBenchStream] {
        var opened: [LiveBenchStream] = []
        opened.reserveCapacity(count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<count {
                if index >= openConcurrency { try await group.next() }
                let user = UUID()
                let token = try await tokens.sign(user: user, role: "user", email: "watcher-\(user.uuidString.prefix(8).lowercased())@example.org")
                let stream = switch transport {
                case .websocket: LiveBenchStream.webSocket(port: port, token: token, event: event(index), logger: logger)
                case .sse: LiveBenchStream.serverSentEvents(port: port, token: token, event: event(index), http: http)
                }
                opened.append(stream)
                group.addTask { try await stream.waitUntilSubscribed(within: .seconds(60)) }
            }
            try await group.waitForAll()
        }
        return opened
    }

    func openPlain(count: Int, port: Int) async throws -> [LiveBenchPlainConnection] {
        var opened: [LiveBenchPlainConnection] = []
        opened.reserveCapacity(count)
        try await withThrowingTaskGroup(of: LiveBenchPlainConnection.self) { group in
            for index in 0..<count {
                if index >= openConcurrency, let connection = try await group.next() { opened.append(connection) }
                group.addTask { try await LiveBenchPlainConnection.open(port: port) }
            }
            for try await connection in group { opened.append(connection) }
        }
        return opened
    }

    /// `subscribers` streams per spread event, by event.
    func openSpreadStreams(port: Int, setup: Setup, tokens: LiveBenchTokens, http: HTTPClient, logger: Logger) async throws -> [[LiveBenchStream]] {
        let streams = try await openStreams(count: events * subscribers, port: port, event: { setup.spread[$0 % setup.spread.count] },
                                            tokens: tokens, http: http, logger: logger)
        var byEvent = Array(repeating: [LiveBenchStream](), count: events)
        for (index, stream) in streams.enumerated() { byEvent[index % events].append(stream) }
        return byEvent
    }

    static func close(_ streams: [LiveBenchStream]) async {
        for stream in streams { stream.stop() }
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline, streams.contains(where: { !$0.hasEnded }) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// When each stream first had a message with at most `seats` left (streams that did not
    /// within `limit` are left out).
    static func waitForAll(_ streams: [LiveBenchStream], seatsAtMost seats: Int, within limit: Duration) async throws -> [ContinuousClock.Instant] {
        let deadline = ContinuousClock.now + limit
        while true {
            let arrivals = streams.compactMap { $0.firstArrival(seatsAtMost: seats) }
            if arrivals.count == streams.count || ContinuousClock.now >= deadline { return arrivals }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    // MARK: Latency

    /// One booking (or NOTIFY): the instants just before its COMMIT was sent (the HTTP request,
    /// for a booking through the intake) and just after it returned (the HTTP response).
    struct Commit: Sendable {
        var event = 0
        var seats = 0
        var sent: ContinuousClock.Instant
        var returned: ContinuousClock.Instant
    }

    /// Runs `rate × seconds` actions paced at `rate` per second from one start, action `j` at
    /// start + j / rate, on `senders` tasks; `owner(j)` is the sender of action `j`.
    func paced(owner: @escaping @Sendable (Int) -> Int, _ action: @escaping @Sendable (_ sender: Int, _ index: Int) async throws -> Void) async throws {
        let total = rate * seconds
        let step = Duration.nanoseconds(Int64(1e9 / Double(rate)))
        let start = ContinuousClock.now + .milliseconds(100)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sender in 0..<senders {
                group.addTask {
                    for index in 0..<total where owner(index) == sender {
                        try await Task.sleep(until: start + step * index, clock: .continuous)
                        try await action(sender, index)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Bookings of one seat at `rate` per second, round robin over the spread events. Each event
    /// belongs to one sender, so its bookings never overlap and the seats left after each are
    /// known without reading them (checked against the database afterwards).
    func bookings(client: PostgresClient, setup: Setup, logger: Logger,
                  _ book: @escaping @Sendable (_ sender: Int, _ event: UUID) async throws -> (sent: ContinuousClock.Instant, returned: ContinuousClock.Instant))
        async throws -> [Commit] {
        let events = self.events, senders = self.senders
        let spread = setup.spread
        let seatsLeft = Mutex(try await LiveBenchBooker.seats(of: spread, client: client, logger: logger))
        let commits = Mutex([Commit?](repeating: nil, count: rate * seconds))
        try await paced(owner: { ($0 % events) % senders }) { sender, index in
            let event = index % events
            let seats = seatsLeft.withLock { seats -> Int in seats[event] -= 1; return seats[event] }
            let (sent, returned) = try await book(sender, spread[event])
            commits.withLock { $0[index] = Commit(event: event, seats: seats, sent: sent, returned: returned) }
        }
        let expected = seatsLeft.withLock { $0 }
        let actual = try await LiveBenchBooker.seats(of: spread, client: client, logger: logger)
        guard expected == actual else {
            throw CommandFailure(message: "seats left differ from the bookings made: someone else booked the bench's events")
        }
        return commits.withLock { $0.compactMap { $0 } }
    }

    /// Runs `body` in a transaction and returns when its COMMIT was sent and when it returned
    /// (the two ends a live message's latency is counted from).
    static func timedCommit(client: PostgresClient, logger: Logger, _ body: @escaping @Sendable (PostgresConnection) async throws -> Void)
        async throws -> (sent: ContinuousClock.Instant, returned: ContinuousClock.Instant) {
        try await client.withOpenConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await body(connection)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            let sent = ContinuousClock.now
            try await connection.query("COMMIT", logger: logger)
            return (sent, ContinuousClock.now)
        }
    }

    /// NOTIFYs at `rate` per second, each committed in a transaction of its own that also writes
    /// a row (so its COMMIT flushes the WAL as a booking's does), to a plain PostgresNIO
    /// connection LISTENing: the floor under any live message.
    func bareNotify(tag: String, client: PostgresClient, listener: LiveBenchListener, logger: Logger) async throws -> LiveBenchLatencies {
        let senders = self.senders
        let commits = Mutex([Commit?](repeating: nil, count: rate * seconds))
        let channel = Self.channel
        try await paced(owner: { $0 % senders }) { _, index in
            let payload = "\(tag):\(index)"
            let (sent, returned) = try await LiveBenchCommand.timedCommit(client: client, logger: logger) { connection in
                // A row written, so that COMMIT waits for its WAL flush as a booking's does.
                try await connection.query("""
                    WITH written AS (INSERT INTO public.live_bench_commits (payload) VALUES (\(payload)) RETURNING 1)
                    SELECT pg_notify(\(channel), \(payload)) FROM written
                    """, logger: logger)
            }
            commits.withLock { $0[index] = Commit(sent: sent, returned: returned) }
        }
        let all = commits.withLock { $0.compactMap { $0 } }
        let deadline = ContinuousClock.now + .seconds(10)
        var result = LiveBenchLatencies()
        while true {
            let arrivals = listener.arrivals(tag: tag)
            if arrivals.count >= all.count || ContinuousClock.now >= deadline {
                result.commits = all.map { ($0.returned - $0.sent).timeInterval * 1000 }
                result.rates = [LiveBenchLatencies.rate(of: all)]
                for (index, commit) in all.enumerated() {
                    guard let at = arrivals[index] else { result.missing += 1; continue }
                    result.fromSent.append((at - commit.sent).timeInterval * 1000)
                    result.fromReturned.append((at - commit.returned).timeInterval * 1000)
                }
                return result
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// For every booking and every stream watching its event: when the first message with at
    /// most the seats that booking left arrived, waiting up to 10 s for stragglers.
    static func latencies(_ commits: [Commit], streams: [[LiveBenchStream]]) async throws -> LiveBenchLatencies {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let complete = commits.allSatisfy { commit in
                streams[commit.event].allSatisfy { $0.firstArrival(seatsAtMost: commit.seats) != nil }
            }
            if complete { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        var result = LiveBenchLatencies()
        result.commits = commits.map { ($0.returned - $0.sent).timeInterval * 1000 }
        result.rates = [LiveBenchLatencies.rate(of: commits)]
        var snapshots: [ObjectIdentifier: [LiveBenchStream.Arrival]] = [:]
        for commit in commits {
            for stream in streams[commit.event] {
                let key = ObjectIdentifier(stream)
                let arrivals = snapshots[key] ?? stream.arrivals
                snapshots[key] = arrivals
                guard let at = arrivals.first(where: { $0.seats <= commit.seats })?.at else { result.missing += 1; continue }
                result.fromSent.append((at - commit.sent).timeInterval * 1000)
                result.fromReturned.append((at - commit.returned).timeInterval * 1000)
            }
        }
        return result
    }

    static func roundLine(_ name: String, bare: LiveBenchLatencies, live: LiveBenchLatencies, liveName: String) -> String {
        String(format: "%@: bare NOTIFY p50/p99 %.2f/%.2f ms from COMMIT sent (%.0f/s); %@ p50/p99 %.2f/%.2f ms from COMMIT returned, %.2f/%.2f ms from COMMIT sent (%.0f bookings/s, commit p50/p99 %.1f/%.1f ms, %d samples%@)",
               name, bare.p(0.5, \.fromSent), bare.p(0.99, \.fromSent), bare.rates.first ?? .nan, liveName,
               live.p(0.5, \.fromReturned), live.p(0.99, \.fromReturned), live.p(0.5, \.fromSent), live.p(0.99, \.fromSent),
               live.rates.first ?? .nan, live.p(0.5, \.commits), live.p(0.99, \.commits),
               live.fromSent.count, live.missing > 0 ? ", \(live.missing) missing" : "")
    }

    /// The share of one core the process used over `period`: (utime + stime) / wall time.
    static func cpuShare(pid: pid_t, over period: Duration) async throws -> Double {
        let before = LiveProcessStats.cpuSeconds(pid: pid)
        let started = ContinuousClock.now
        try await Task.sleep(for: period)
        let after = LiveProcessStats.cpuSeconds(pid: pid)
        return (after - before) / (ContinuousClock.now - started).timeInterval
    }
}

// MARK: - Figures

/// Latency samples in milliseconds, from the instant before COMMIT was sent and after it returned.
struct LiveBenchLatencies: Sendable {
    var fromSent: [Double] = []
    var fromReturned: [Double] = []
    /// How long each COMMIT (or HTTP booking) took: returned − sent.
    var commits: [Double] = []
    /// The rate each run achieved: its commits ÷ the time from the first sent to the last returned.
    var rates: [Double] = []
    var missing = 0

    static func rate(of commits: [LiveBenchCommand.Commit]) -> Double {
        guard let first = commits.map(\.sent).min(), let last = commits.map(\.returned).max(), last > first else { return .nan }
        return Double(commits.count) / (last - first).timeInterval
    }

    mutating func add(_ other: LiveBenchLatencies) {
        fromSent += other.fromSent
        fromReturned += other.fromReturned
        commits += other.commits
        rates += other.rates
        missing += other.missing
    }

    func p(_ fraction: Double, _ series: KeyPath<LiveBenchLatencies, [Double]>) -> Double {
        BenchReport.percentile(self[keyPath: series], fraction)
    }
}

struct LiveBenchFigures {
    struct Hot {
        var lastFromReturned: Double
        var lastFromSent: Double
        var medianFromReturned: Double
        var missing: Int
    }

    var rssBefore = 0.0
    var rssWith = 0.0
    var rssAfterClose = 0.0
    var rssReopened = 0.0
    /// Seconds from the clients' close until daemon A held no stream, and what it still held then.
    var releasedSeconds = 0.0
    var stillOpen = 0
    var plainBefore = 0.0
    var plainWith = 0.0
    /// CPU seconds of daemon A and of the bench process from each hot booking to its last message.
    var hotCPU: [(daemon: Double, bench: Double)] = []
    var idleCPUBefore = 0.0
    var idleCPUWith = 0.0
    var openSeconds = 0.0
    var hot: [Hot] = []
    var bareOne = LiveBenchLatencies()
    var direct = LiveBenchLatencies()
    var bareTwo = LiveBenchLatencies()
    var httpOther = LiveBenchLatencies()
    var httpSame = LiveBenchLatencies()
    var dropped = 0

    func table(connections: Int, transport: LiveBenchCommand.Transport, rate: Int, events: Int, subscribers: Int,
               seconds: Int, rounds: Int) -> String {
        func ms(_ value: Double) -> String { String(format: value.magnitude < 10 ? "%.2f" : "%.1f", value) }
        func pair(_ set: LiveBenchLatencies, _ series: KeyPath<LiveBenchLatencies, [Double]>) -> String {
            "\(ms(set.p(0.5, series))) / \(ms(set.p(0.99, series))) ms"
        }
        func ratio(_ live: LiveBenchLatencies, _ bare: LiveBenchLatencies, _ series: KeyPath<LiveBenchLatencies, [Double]>) -> String {
            String(format: "%.1f / %.1f", live.p(0.5, series) / bare.p(0.5, series), live.p(0.99, series) / bare.p(0.99, series))
        }
        func missing(_ set: LiveBenchLatencies) -> String { set.missing > 0 ? " (\(set.missing) never arrived)" : "" }
        let perStream = (rssWith - rssBefore) * 1.024 / Double(connections)
        let lasts = hot.map(\.lastFromReturned)
        var lines = ["", "| measure | value | target |", "|---|---|---|"]
        lines.append("| streams held by daemon A (\(transport.rawValue), each watching the hot event) | \(connections), opened in \(String(format: "%.1f", openSeconds)) s | |")
        lines.append(String(format: "| daemon RSS: no streams / %d streams / after closing them | %.1f / %.1f / %.1f MiB | |",
                            connections, rssBefore / 1024, rssWith / 1024, rssAfterClose / 1024))
        let perPlain = (plainWith - plainBefore) * 1.024 / Double(connections)
        lines.append(String(format: "| daemon RSS after opening %d streams again | %.1f MiB | |", connections, rssReopened / 1024))
        lines.append(String(format: "| streams released by the daemon after their clients closed | within %.1f s%@ | |", releasedSeconds,
                            stillOpen > 0 ? " (\(stillOpen) still open)" : ""))
        lines.append(String(format: "| **RSS per stream** ((with − without) ÷ %d) | **%.1f kB** | ≤ 20 kB |", connections, perStream))
        lines.append(String(format: "| baseline: RSS per idle keep-alive HTTP/1.1 connection (another daemon, after one GET /healthz) | %.1f kB | |", perPlain))
        lines.append(String(format: "| **RSS per stream ÷ per plain connection** | **%.1f** | |", perStream / perPlain))
        lines.append(String(format: "| daemon CPU when idle: no streams / %d streams | %.2f %% / %.2f %% of a core | |",
                            connections, idleCPUBefore * 100, idleCPUWith * 100))
        lines.append("| hot event to all \(connections) streams: last stream, COMMIT returned → message, median of \(hot.count) (min–max) | "
                     + "**\(ms(BenchReport.median(lasts))) ms** (\(ms(lasts.min() ?? .nan))–\(ms(lasts.max() ?? .nan))) | |")
        lines.append("| hot event: median stream | \(ms(BenchReport.median(hot.map(\.medianFromReturned)))) ms | |")
        lines.append(String(format: "| hot event: CPU per fan-out, daemon A / this bench's clients (median) | %.0f / %.0f ms | |",
                            BenchReport.median(hotCPU.map(\.daemon)) * 1000, BenchReport.median(hotCPU.map(\.bench)) * 1000))
        lines.append("| hot event: last stream ÷ bare NOTIFY p50 (COMMIT sent → listener) | "
                     + String(format: "%.0f", BenchReport.median(hot.map(\.lastFromSent)) / bareOne.p(0.5, \.fromSent)) + " | |")
        lines.append("| **baseline**: bare NOTIFY, COMMIT sent → LISTEN connection, p50 / p99 | \(pair(bareOne, \.fromSent)) | |")
        lines.append("| baseline: bare NOTIFY, COMMIT returned → LISTEN connection, p50 / p99 | \(pair(bareOne, \.fromReturned)) | |")
        lines.append("| baseline: the COMMIT itself, p50 / p99 | \(pair(bareOne, \.commits)) | |")
        lines.append("| **one daemon**: booking's COMMIT returned → stream, p50 / p99\(missing(direct)) | **\(pair(direct, \.fromReturned))** | p99 ≤ 50 ms |")
        lines.append("| one daemon: booking's COMMIT sent → stream, p50 / p99 (its COMMIT: \(pair(direct, \.commits))) | \(pair(direct, \.fromSent)) | |")
        lines.append("| **one daemon ÷ bare NOTIFY**, p50 / p99, COMMIT sent → message | **\(ratio(direct, bareOne, \.fromSent))** | |")
        lines.append("| baseline during the two-daemon rounds: bare NOTIFY, COMMIT sent → listener, p50 / p99 | \(pair(bareTwo, \.fromSent)) | |")
        lines.append("| **two daemons**: booked via A's HTTP → stream on B, from the response, p50 / p99\(missing(httpOther)) | **\(pair(httpOther, \.fromReturned))** | p99 ≤ 50 ms |")
        lines.append("| two daemons: from the request, p50 / p99 (the HTTP booking: \(pair(httpOther, \.commits))) | \(pair(httpOther, \.fromSent)) | p99 ≤ 50 ms |")
        lines.append("| the same bookings → stream on A (the daemon that took them), from the response / the request\(missing(httpSame)) | \(pair(httpSame, \.fromReturned)); \(pair(httpSame, \.fromSent)) | |")
        lines.append("| **two daemons ÷ bare NOTIFY**, p50 / p99, request sent (B) vs COMMIT sent (bare) | **\(ratio(httpOther, bareTwo, \.fromSent))** | |")
        lines.append("")
        lines.append("\(rate) bookings/s round robin over \(events) events, \(subscribers) streams each per daemon, \(seconds) s × \(rounds) rounds per setup; "
                     + "latency samples are (booking, stream) pairs: \(direct.fromSent.count) one-daemon, \(httpOther.fromSent.count) two-daemon. "
                     + "Streams that ended before the close: \(dropped). Rates achieved (lowest round): bare NOTIFY "
                     + String(format: "%.0f/s, one daemon %.0f/s, two daemons %.0f/s.", (bareOne.rates + bareTwo.rates).min() ?? .nan,
                              direct.rates.min() ?? .nan, httpOther.rates.min() ?? .nan))
        return lines.joined(separator: "\n")
    }
}

// MARK: - Clients

/// Tokens for the bench's streams and bookers, signed like `evently-jobs token`.
struct LiveBenchTokens: Sendable {
    let secret: String
    let intake: JobsConfig.Intake

    init(serve: ServeProcess) throws {
        let config = try JobsConfig.load(path: serve.directory.appendingPathComponent("jobs.conf").path)
        secret = config.intake.jwtSecret ?? LiveBenchCommand.secret
        intake = config.intake
    }

    func sign(user: UUID, role: String, email: String) async throws -> String {
        try await TokenCommand.sign(secret: secret, intake: intake, userID: user, role: role, email: email, lifetime: .seconds(6 * 3600))
    }
}

/// One stream of the bench, a real client watching one event: it records the seats of every
/// `event` message and when it arrived, and does nothing else per message.
final class LiveBenchStream: Sendable {
    struct Arrival: Sendable {
        var seats: Int
        var at: ContinuousClock.Instant
    }

    private struct State {
        var arrivals: [Arrival] = []
        var ended = false
        var failure: String?
    }

    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    var arrivals: [Arrival] { state.withLock { $0.arrivals } }
    var hasEnded: Bool { state.withLock { $0.ended } }

    func firstArrival(seatsAtMost seats: Int) -> ContinuousClock.Instant? {
        state.withLock { $0.arrivals.first { $0.seats <= seats }?.at }
    }

    func record(_ seats: Int, at instant: ContinuousClock.Instant) {
        state.withLock { $0.arrivals.append(Arrival(seats: seats, at: instant)) }
    }

    private func start(_ body: @escaping @Sendable () async throws -> String?) {
        let started = Task {
            do {
                let closing = try await body()
                self.state.withLock { $0.ended = true; $0.failure = $0.failure ?? closing }
            } catch {
                self.state.withLock { $0.ended = true; $0.failure = $0.failure ?? "\(error)" }
            }
        }
        task.withLock { $0 = started }
    }

    func stop() {
        task.withLock { $0?.cancel() }
    }

    /// Waits for the event's first message (sent on subscribing): the stream is then watching.
    func waitUntilSubscribed(within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while true {
            let (subscribed, ended, failure) = state.withLock { (!$0.arrivals.isEmpty, $0.ended, $0.failure) }
            if subscribed { return }
            if ended { throw CommandFailure(message: "a stream ended before its first event message: \(failure ?? "closed")") }
            guard ContinuousClock.now < deadline else { throw CommandFailure(message: "a stream got no event message within \(limit)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// `GET /v1/live` with swift-websocket's client, subscribing to `event`.
    static func webSocket(port: Int, token: String, event: UUID, logger: Logger) -> LiveBenchStream {
        let stream = LiveBenchStream()
        var headers = HTTPFields()
        headers[.authorization] = "Bearer \(token)"
        let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 16, additionalHeaders: headers, closeTimeout: .seconds(5))
        let subscribe = #"{"subscribe": ["event:\#(event.lowercased)"]}"#
        stream.start {
            let frame = try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)/v1/live", configuration: configuration,
                                                          logger: logger) { inbound, outbound, _ in
                try await outbound.write(.text(subscribe))
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    let now = ContinuousClock.now
                    if case .text(let text) = message, let seats = seats(in: text) { stream.record(seats, at: now) }
                }
            }
            return frame.map { "closed with \($0.closeCode) \($0.reason ?? "")" }
        }
        return stream
    }

    /// `GET /v1/live/events?events=<event>` streamed with AsyncHTTPClient.
    static func serverSentEvents(port: Int, token: String, event: UUID, http: HTTPClient) -> LiveBenchStream {
        let stream = LiveBenchStream()
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/live/events?events=\(event.lowercased)")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Accept", value: "text/event-stream")
        let prepared = request
        stream.start {
            let response = try await http.execute(prepared, timeout: .hours(24))
            guard response.status == .ok else { return "answered \(response.status.code)" }
            var pending = ""
            for try await buffer in response.body {
                let now = ContinuousClock.now
                pending += String(buffer: buffer)
                while let end = pending.range(of: "\n\n") {
                    if let seats = seats(in: String(pending[..<end.lowerBound])) { stream.record(seats, at: now) }
                    pending.removeSubrange(..<end.upperBound)
                }
            }
            return "the server ended the stream"
        }
        return stream
    }

    private static let eventType = Array(#""type":"event""#.utf8)
    private static let seatsKey = Array(#""available_seats":"#.utf8)

    /// `available_seats` of an `event` message (the JSON is written with sorted keys, no spaces).
    static func seats(in text: String) -> Int? {
        var text = text
        return text.withUTF8 { bytes -> Int? in
            guard find(eventType, in: bytes) != nil, var index = find(seatsKey, in: bytes) else { return nil }
            var value = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                value = value * 10 + Int(bytes[index] - 0x30)
                index += 1
                digits += 1
            }
            return digits > 0 ? value : nil
        }
    }

    /// The index just after the first occurrence of `needle`.
    private static func find(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        var start = 0
        while start + needle.count <= bytes.count {
            var matched = 0
            while matched < needle.count, bytes[start + matched] == needle[matched] { matched += 1 }
            if matched == needle.count { return start + needle.count }
            start += 1
        }
        return nil
    }
}

/// Bookings committed by the bench itself: the intake's transaction (BookingStore, then the
/// follow-ups), with the instants around its COMMIT.
struct LiveBenchBooker: Sendable {
    let client: PostgresClient
    let logger: Logger

    func book(user: UUID, event: UUID) async throws -> (sent: ContinuousClock.Instant, returned: ContinuousClock.Instant) {
        let store = BookingStore(logger: logger)
        let followUps = FollowUpJobs(logger: logger)
        return try await LiveBenchCommand.timedCommit(client: client, logger: logger) { connection in
            let outcome = try await store.book(userID: user, eventID: event, quantity: 1, idempotencyKey: UUID().uuidString,
                                               requestHash: "bench", now: Date(), pricing: .standard, on: connection)
            try await followUps.apply(outcome.followUps, on: connection)
        }
    }

    func seats(of events: [UUID]) async throws -> [Int] {
        try await Self.seats(of: events, client: client, logger: logger)
    }

    static func seats(of events: [UUID], client: PostgresClient, logger: Logger) async throws -> [Int] {
        let found = try await client.withOpenConnection { try await EventStore(logger: logger).get(ids: events, on: $0) }
        return try events.map { id in
            guard let event = found.first(where: { $0.id == id }) else { throw CommandFailure(message: "event \(id) is gone") }
            return event.availableSeats
        }
    }
}

/// Bookings through a daemon's `POST /v1/bookings`, with the instants around the HTTP call.
struct LiveBenchIntake: Sendable {
    let http: HTTPClient
    let port: Int

    /// One authenticated request first, so that the user's row is mirrored before the timed run.
    func warmUp(token: String) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/notifications")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await http.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok else { throw CommandFailure(message: "GET /v1/notifications answered \(response.status.code)") }
    }

    func book(token: String, event: UUID) async throws -> (sent: ContinuousClock.Instant, returned: ContinuousClock.Instant) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/bookings")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: UUID().uuidString)
        request.body = .bytes(ByteBuffer(string: #"{"event_id": "\#(event.lowercased)", "quantity": 1}"#))
        let sent = ContinuousClock.now
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 16)
        let returned = ContinuousClock.now
        guard response.status.code == 201 else {
            throw CommandFailure(message: "POST /v1/bookings answered \(response.status.code): \(String(buffer: body))")
        }
        return (sent, returned)
    }
}

/// A plain PostgresNIO connection LISTENing on the bench's channel: when each payload arrived.
final class LiveBenchListener: Sendable {
    private let arrived = Mutex<[String: [Int: ContinuousClock.Instant]]>([:])
    private let connection: PostgresConnection
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let listening = Atomic(false)

    private init(connection: PostgresConnection) {
        self.connection = connection
    }

    static func start(configuration: PostgresConnection.Configuration, channel: String, logger: Logger) async throws -> LiveBenchListener {
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        let listener = LiveBenchListener(connection: connection)
        let running = Task {
            do {
                try await connection.listen(on: channel) { notifications in
                    listener.listening.store(true, ordering: .releasing)
                    for try await notification in notifications {
                        let now = ContinuousClock.now
                        let parts = notification.payload.split(separator: ":")
                        guard parts.count == 2, let index = Int(parts[1]) else { continue }
                        listener.arrived.withLock { $0[String(parts[0]), default: [:]][index] = now }
                    }
                }
            } catch {
                logger.warning("bench LISTEN ended: \(error)")
            }
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while !listener.listening.load(ordering: .acquiring) {
            guard ContinuousClock.now < deadline else { running.cancel(); throw CommandFailure(message: "LISTEN did not start") }
            try await Task.sleep(for: .milliseconds(10))
        }
        listener.task.withLock { $0 = running }
        return listener
    }

    /// Arrival instants by index, of the payloads `<tag>:<index>`.
    func arrivals(tag: String) -> [Int: ContinuousClock.Instant] {
        arrived.withLock { $0[tag] ?? [:] }
    }

    func stop() {
        task.withLock { $0?.cancel() }
        let connection = self.connection
        Task { try? await connection.close() }
    }
}

/// Memory and CPU time of another process, from Linux's /proc.
enum LiveProcessStats {
    /// The resident set of `pid` now (VmRSS), in KiB.
    static func residentKiB(pid: pid_t) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return .nan }
        return kilobytes
    }

    /// User plus system CPU time of `pid` so far (utime + stime of /proc/<pid>/stat), in seconds.
    static func cpuSeconds(pid: pid_t) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return .nan }
        // After the command name: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .nan }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A plain HTTP/1.1 keep-alive connection: one `GET /healthz` answered, then idle.
struct LiveBenchPlainConnection: Sendable {
    let channel: any Channel

    static func open(port: Int) async throws -> LiveBenchPlainConnection {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let answered = loop.makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: loop).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(FirstReply(answered: answered)) }
        }.connect(host: "127.0.0.1", port: port).get()
        let request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: keep-alive\r\n\r\n"
        do {
            try await channel.writeAndFlush(ByteBuffer(string: request)).get()
            try await answered.futureResult.get()
        } catch {
            try? await channel.close().get()
            throw error
        }
        return LiveBenchPlainConnection(channel: channel)
    }

    static func close(_ connections: [LiveBenchPlainConnection]) async {
        for connection in connections { try? await connection.channel.close().get() }
    }

    /// Completes `answered` at the first bytes of the answer (or fails it when the connection closes first).
    final class FirstReply: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let answered: EventLoopPromise<Void>
        var done = false

        init(answered: EventLoopPromise<Void>) {
            self.answered = answered
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !done else { return }
            done = true
            answered.succeed()
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !done {
                done = true
                answered.fail(CommandFailure(message: "a plain connection closed before its answer"))
            }
            context.fireChannelInactive()
        }
    }
}
