import BookingCore
import Foundation
import HTTPTypes
import Logging
import Metrics
import PostgresNIO
import Queue
import Synchronization

/// The daemon's live streams and what feeds them: one LISTEN on `evently_live` (migration
/// b0005's triggers announce every change there, whoever made it), each change read once and
/// fanned out in memory to the streams that want it. A booking taken through another daemon
/// reaches the streams held here the same way.
///
/// - A user's own rows (in-app notifications, bookings, waitlist entries) go to that user's
///   streams as soon as they are read.
/// - An event's seats, price and status go to its subscribers at most once per
///   ``LiveSettings/eventInterval`` (the first change at once, later ones coalesced: only the
///   latest value is sent).
/// - Waitlist positions: when an event's line moves, the connected users waiting in it get
///   their entry again if its position changed.
/// - Per-queue counts go to operators and admins who watch `queues`, once per
///   ``LiveSettings/queuesInterval``, read once for all of them.
///
/// When the LISTEN connection is lost and comes back, every stream catches up from its last
/// change number, so nothing committed meanwhile is missed.
final class LiveHub: Sendable {
    static let channel = "evently_live"

    let client: PostgresClient
    let settings: LiveSettings
    let pricing: PricingPolicy
    let listenConnection: PostgresConnection.Configuration?
    let databaseTimeout: Duration
    let logger: Logger
    private let metrics: LiveMetrics
    private let registry = Mutex(Registry())
    private let doorbell = Doorbell()

    private struct Registry {
        var nextID = 0
        var subscribers: [Int: LiveSubscriber] = [:]
        var byUser: [UUID: Set<Int>] = [:]
        var byEvent: [UUID: Set<Int>] = [:]
        var eventsOf: [Int: Set<UUID>] = [:]
        var queueWatchers: Set<Int> = []
        var perAddress: [String: Int] = [:]
        /// Event → connected users with an open entry in its line.
        var waiting: [UUID: Set<UUID>] = [:]
        /// User → entry → the position last sent, so an unchanged place is not sent again
        /// (dropped with the user's last stream).
        var sentPositions: [UUID: [UUID: Int]] = [:]

        var pendingChanges: [(userID: UUID, sequence: Int64)] = []
        var dirtyEvents: Set<UUID> = []
        var dirtyLines: Set<UUID> = []
        var lastEventSend: [UUID: ContinuousClock.Instant] = [:]
        var catchUpEveryone = false
        var listening = false
        /// Poll-only: each watched event's last message, so a poll sends only what changed.
        var polledEvents: [UUID: String] = [:]
    }

    /// Set when there is no LISTEN (poll-only): how often every stream reads what changed.
    let pollInterval: Duration?

    init(client: PostgresClient, settings: LiveSettings, pricing: PricingPolicy,
         listenConnection: PostgresConnection.Configuration?, pollInterval: Duration? = nil,
         databaseTimeout: Duration, logger: Logger, metricsFactory: any MetricsFactory) {
        self.client = client
        self.settings = settings
        self.pricing = pricing
        self.listenConnection = listenConnection
        self.pollInterval = pollInterval
        self.databaseTimeout = databaseTimeout
        self.logger = logger
        self.metrics = LiveMetrics(factory: metricsFactory)
    }

    // MARK: Streams

    /// Checks the limits before a stream is accepted (before a WebSocket upgrade, or an SSE
    /// response starts), so a refusal can still be an HTTP answer.
    func checkLimits(caller: Caller, addressKey: String?) throws(APIError) {
        let refusal = registry.withLock { limitProblem(caller: caller, addressKey: addressKey, in: $0) }
        if let refusal { throw refusal }
    }

    private func limitProblem(caller: Caller, addressKey: String?, in registry: Registry) -> APIError? {
        if registry.subscribers.count >= settings.maxConnections {
            return APIError(.serviceUnavailable, "too_many_streams", "this server holds its most live streams; try another or later",
                            headers: [.retryAfter: "5"])
        }
        if (registry.byUser[caller.userID]?.count ?? 0) >= settings.maxConnectionsPerUser {
            return APIError(.tooManyRequests, "too_many_streams",
                            "at most \(settings.maxConnectionsPerUser) live streams per user; close one first")
        }
        if let addressKey, (registry.perAddress[addressKey] ?? 0) >= settings.maxConnectionsPerAddress {
            return APIError(.tooManyRequests, "too_many_streams",
                            "at most \(settings.maxConnectionsPerAddress) live streams per address")
        }
        return nil
    }

    /// Opens a stream for `caller`. It starts with `hello`, then (when `resumeFrom` is given) the
    /// user's changes after that number, then their open waitlist entries, then live messages.
    func connect(caller: Caller, addressKey: String?, resumeFrom: Int64?, transport: String) async throws -> LiveSubscriber {
        // Registered before the starting number is read: a change committed after that read is
        // announced to a stream that is already listening.
        let subscriber = try registry.withLock { registry throws(APIError) -> LiveSubscriber in
            if let refusal = limitProblem(caller: caller, addressKey: addressKey, in: registry) { throw refusal }
            registry.nextID += 1
            let subscriber = LiveSubscriber(id: registry.nextID, caller: caller, addressKey: addressKey, cursor: resumeFrom ?? 0,
                                            capacity: settings.buffer)
            // Changes that arrive before `hello` and the missed ones wait behind them.
            subscriber.beginCatchingUp()
            registry.subscribers[subscriber.id] = subscriber
            registry.byUser[caller.userID, default: []].insert(subscriber.id)
            if let addressKey { registry.perAddress[addressKey, default: 0] += 1 }
            return subscriber
        }
        metrics.opened(transport: transport)
        do {
            let start: Int64
            if let resumeFrom {
                start = resumeFrom
            } else {
                start = try await read { try await LiveChangeStore(logger: self.logger).currentSequence(on: $0) }
            }
            subscriber.startAt(start)
            subscriber.deliver(LiveMessage(.hello, Hello(userID: caller.userID.lowercased, role: caller.role.rawValue,
                                                          cursor: start, resumed: resumeFrom != nil)))
            if let resumeFrom { try await sendMissed(to: subscriber, after: resumeFrom) }
            subscriber.finishCatchingUp()
            try await sendOpenEntries(to: [subscriber])
        } catch {
            disconnect(subscriber, transport: transport)
            throw error
        }
        return subscriber
    }

    struct Hello: Encodable {
        var userID: String
        var role: String
        var cursor: Int64
        var resumed: Bool
        enum CodingKeys: String, CodingKey { case userID = "user_id", role, cursor, resumed }
    }

    func disconnect(_ subscriber: LiveSubscriber, transport: String) {
        let removed = registry.withLock { registry -> Bool in
            guard registry.subscribers.removeValue(forKey: subscriber.id) != nil else { return false }
            let user = subscriber.caller.userID
            registry.byUser[user]?.remove(subscriber.id)
            if registry.byUser[user]?.isEmpty == true {
                registry.byUser[user] = nil
                registry.sentPositions[user] = nil
                for event in Array(registry.waiting.keys) {
                    registry.waiting[event]?.remove(user)
                    if registry.waiting[event]?.isEmpty == true { registry.waiting[event] = nil }
                }
            }
            for event in registry.eventsOf.removeValue(forKey: subscriber.id) ?? [] {
                registry.byEvent[event]?.remove(subscriber.id)
                if registry.byEvent[event]?.isEmpty == true {
                    registry.byEvent[event] = nil
                    registry.lastEventSend[event] = nil
                    registry.polledEvents[event] = nil
                }
            }
            registry.queueWatchers.remove(subscriber.id)
            if let key = subscriber.addressKey {
                registry.perAddress[key, default: 1] -= 1
                if registry.perAddress[key] == 0 { registry.perAddress[key] = nil }
            }
            return true
        }
        subscriber.end(.clientGone)
        if removed {
            metrics.closed(transport: transport, reason: subscriber.ended ?? .clientGone, bufferHighWater: subscriber.bufferHighWater)
        }
    }

    /// The streams open now.
    var connectionCount: Int { registry.withLock { $0.subscribers.count } }

    /// What a stream asked to watch that cannot be watched.
    struct SubscriptionProblem: Error {
        var code: String
        var message: String
        var status: HTTPResponse.Status
    }

    /// Watches events (`event:<id>`) and, for operators and admins, `queues`. The current value of
    /// each event is sent at once. Nothing is watched when any name is bad.
    func subscribe(_ subscriber: LiveSubscriber, to names: [String]) async throws {
        var events: [UUID] = []
        var queues = false
        for name in names {
            if name == "queues" {
                guard subscriber.caller.role == .operator || subscriber.caller.role == .admin else {
                    throw SubscriptionProblem(code: "forbidden", message: "queues is for operators and admins", status: .forbidden)
                }
                queues = true
            } else if name.hasPrefix("event:"), let id = UUID(uuidString: String(name.dropFirst("event:".count))) {
                events.append(id)
            } else {
                throw SubscriptionProblem(code: "unknown_subscription",
                                          message: "\(LiveRoutes.quoted(name)) is not a subscription: use \"event:<uuid>\" or \"queues\"",
                                          status: .badRequest)
            }
        }
        guard events.count <= settings.maxEventsPerConnection else {
            throw SubscriptionProblem(code: "too_many_subscriptions",
                                      message: "a stream watches at most \(settings.maxEventsPerConnection) events",
                                      status: .badRequest)
        }
        let wanted = events
        let found = try await read { try await EventStore(logger: self.logger).get(ids: wanted, on: $0) }
        if let missing = events.first(where: { id in !found.contains { $0.id == id } }) {
            throw SubscriptionProblem(code: "unknown_subscription", message: "no event \(missing.lowercased)", status: .notFound)
        }
        try registry.withLock { registry throws(SubscriptionProblem) in
            let watched = registry.eventsOf[subscriber.id, default: []].union(wanted)
            guard watched.count <= settings.maxEventsPerConnection else {
                throw SubscriptionProblem(code: "too_many_subscriptions",
                                          message: "a stream watches at most \(settings.maxEventsPerConnection) events",
                                          status: .badRequest)
            }
            guard registry.subscribers[subscriber.id] != nil else { return }
            registry.eventsOf[subscriber.id] = watched
            for event in wanted {
                registry.byEvent[event, default: []].insert(subscriber.id)
                // Poll-only: the new stream's first value is read before it is registered; the
                // next poll sends the current one whatever was sent to the others.
                registry.polledEvents[event] = nil
            }
            if queues { registry.queueWatchers.insert(subscriber.id) }
        }
        for event in found { subscriber.deliver(eventMessage(event)) }
    }

    /// Stops watching the named subscriptions; unknown names are ignored.
    func unsubscribe(_ subscriber: LiveSubscriber, from names: [String]) {
        registry.withLock { registry in
            for name in names {
                if name == "queues" { registry.queueWatchers.remove(subscriber.id); continue }
                guard name.hasPrefix("event:"), let id = UUID(uuidString: String(name.dropFirst("event:".count))) else { continue }
                registry.eventsOf[subscriber.id]?.remove(id)
                registry.byEvent[id]?.remove(subscriber.id)
                if registry.byEvent[id]?.isEmpty == true {
                    registry.byEvent[id] = nil
                    registry.polledEvents[id] = nil
                }
            }
        }
    }

    /// Sends the user's changes after `sequence`, oldest first, holding newer live changes
    /// until they are out. More than ``LiveSettings/replayLimit`` missed: `resync` instead.
    func catchUp(_ subscriber: LiveSubscriber, after sequence: Int64) async throws {
        subscriber.beginCatchingUp()
        defer { subscriber.finishCatchingUp() }
        try await sendMissed(to: subscriber, after: sequence)
    }

    private func sendMissed(to subscriber: LiveSubscriber, after sequence: Int64) async throws {
        let limit = settings.replayLimit
        let missed = try await read {
            try await LiveChangeStore(logger: self.logger).changes(userID: subscriber.caller.userID, after: sequence,
                                                                   limit: limit + 1, on: $0)
        }
        if missed.count > limit {
            subscriber.deliver(.resync("too_many_missed", "more than \(limit) changes were missed: read the REST lists again"))
        }
        for change in missed.prefix(limit) {
            noteWaitlist(change)
            subscriber.deliverMissed(LiveMessage(change))
        }
    }

    // MARK: Feeding

    /// Listens, reads and fans out until cancelled; then ends every stream (``LiveEnd/shuttingDown``).
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let pollInterval {
                group.addTask { await self.pollLoop(every: pollInterval) }
            } else {
                group.addTask {
                    await ChannelListener(
                        channel: Self.channel, client: self.client, listenConnection: self.listenConnection, logger: self.logger,
                        onNotification: { [weak self] in self?.noticed($0) },
                        onListening: { [weak self] in self?.listening() }
                    ).run()
                }
            }
            group.addTask { await self.processLoop() }
            group.addTask { await self.tickLoop() }
            group.addTask { await self.queuesLoop() }
            await group.next()
            group.cancelAll()
        }
        let open = registry.withLock { Array($0.subscribers.values) }
        for subscriber in open { subscriber.end(.shuttingDown) }
    }

    /// A NOTIFY payload (see b0005_live.sql): kept only when a stream here wants it.
    private func noticed(_ payload: String) {
        let parts = payload.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 2, let id = UUID(uuidString: String(parts[1])) else {
            logger.debug("ignored live notification \(payload)")
            return
        }
        let ring = registry.withLock { registry -> Bool in
            switch parts[0] {
            case "u":
                guard parts.count == 3, let sequence = Int64(parts[2]), registry.byUser[id] != nil else { return false }
                registry.pendingChanges.append((id, sequence))
                return true
            case "e":
                guard registry.byEvent[id] != nil else { return false }
                registry.dirtyEvents.insert(id)
                return isDue(id, registry)
            case "w":
                guard registry.waiting[id] != nil else { return false }
                registry.dirtyLines.insert(id)
                return isDue(id, registry)
            default:
                return false
            }
        }
        if ring { doorbell.ring() }
    }

    private func isDue(_ event: UUID, _ registry: Registry) -> Bool {
        guard let last = registry.lastEventSend[event] else { return true }
        return ContinuousClock.now - last >= settings.eventInterval
    }

    /// After every (re)connect of the LISTEN: changes committed while it was away were not
    /// announced, so every stream catches up (not on the first connect: nothing was missed).
    private func listening() {
        let again = registry.withLock { registry -> Bool in
            defer { registry.listening = true }
            guard registry.listening else { return false }
            registry.catchUpEveryone = true
            registry.dirtyEvents.formUnion(registry.byEvent.keys)
            registry.dirtyLines.formUnion(registry.waiting.keys)
            return true
        }
        if again { doorbell.ring() }
    }

    /// Poll-only (no LISTEN): what a notification would have said is read instead: every
    /// stream's own changes after its cursor, and the state of every watched event and line.
    /// Unchanged events are not sent again (``Registry/polledEvents``).
    private func pollLoop(every interval: Duration) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            registry.withLock { registry in
                registry.catchUpEveryone = true
                registry.dirtyEvents.formUnion(registry.byEvent.keys)
                registry.dirtyLines.formUnion(registry.waiting.keys)
            }
            doorbell.ring()
        }
    }

    private func tickLoop() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.eventInterval) } catch { return }
            if registry.withLock({ !$0.dirtyEvents.isEmpty || !$0.dirtyLines.isEmpty }) { doorbell.ring() }
        }
    }

    private struct Work {
        var changes: [(userID: UUID, sequence: Int64)]
        var events: [UUID]
        var lines: [UUID]
        var catchUp: [LiveSubscriber]
    }

    private func processLoop() async {
        while await doorbell.wait() {
            let now = ContinuousClock.now
            let work = registry.withLock { registry -> Work in
                let due = { (event: UUID) in registry.lastEventSend[event].map { now - $0 >= self.settings.eventInterval } ?? true }
                let events = registry.dirtyEvents.filter(due)
                let lines = registry.dirtyLines.filter(due)
                registry.dirtyEvents.subtract(events)
                registry.dirtyLines.subtract(lines)
                for event in events.union(lines) where registry.byEvent[event] != nil || registry.waiting[event] != nil {
                    registry.lastEventSend[event] = now
                }
                defer {
                    registry.pendingChanges = []
                    registry.catchUpEveryone = false
                }
                return Work(changes: registry.pendingChanges, events: Array(events), lines: Array(lines),
                            catchUp: registry.catchUpEveryone ? Array(registry.subscribers.values) : [])
            }
            do {
                for subscriber in work.catchUp { try await catchUp(subscriber, after: subscriber.cursor) }
                try await fanOutChanges(work.changes)
                try await fanOutEvents(work.events)
                try await fanOutLines(work.lines)
            } catch {
                if Task.isCancelled { return }
                // Whatever was not sent is read again from each stream's last change number.
                logger.warning("live updates could not be read, catching up shortly: \(readableDescription(of: error))")
                registry.withLock { registry in
                    registry.catchUpEveryone = true
                    registry.dirtyEvents.formUnion(work.events)
                    registry.dirtyLines.formUnion(work.lines)
                }
                do { try await Task.sleep(for: .milliseconds(500)) } catch { return }
                doorbell.ring()
            }
        }
    }

    private func fanOutChanges(_ wanted: [(userID: UUID, sequence: Int64)]) async throws {
        guard !wanted.isEmpty else { return }
        for batch in stride(from: 0, to: wanted.count, by: 1_000).map({ Array(wanted[$0..<min($0 + 1_000, wanted.count)]) }) {
            let changes = try await read { try await LiveChangeStore(logger: self.logger).changes(batch, on: $0) }
            for change in changes {
                noteWaitlist(change)
                let message = LiveMessage(change)
                for subscriber in subscribers(ofUser: change.userID) { subscriber.deliver(message) }
                metrics.sent(message.kind)
            }
        }
    }

    private func fanOutEvents(_ ids: [UUID]) async throws {
        guard !ids.isEmpty else { return }
        let events = try await read { try await EventStore(logger: self.logger).get(ids: ids, on: $0) }
        for event in events {
            let message = eventMessage(event)
            let polling = pollInterval != nil
            let watchers = registry.withLock { registry -> [LiveSubscriber] in
                if polling {
                    guard registry.polledEvents[event.id] != message.data else { return [] }
                    registry.polledEvents[event.id] = registry.byEvent[event.id] == nil ? nil : message.data
                }
                return (registry.byEvent[event.id] ?? []).compactMap { registry.subscribers[$0] }
            }
            if polling && watchers.isEmpty { continue }
            for subscriber in watchers { subscriber.deliver(message) }
            metrics.sent(.event)
        }
    }

    private func fanOutLines(_ events: [UUID]) async throws {
        for event in events {
            let users = registry.withLock { Array($0.waiting[event] ?? []) }
            guard !users.isEmpty else { continue }
            let entries = try await read {
                try await WaitlistStore(logger: self.logger).openEntries(userIDs: users, eventID: event, on: $0)
            }
            try await sendEntries(entries, onlyMoved: true)
        }
    }

    /// Each subscriber's user's open waitlist entries with their positions (sent at connect).
    private func sendOpenEntries(to subscribers: [LiveSubscriber]) async throws {
        let users = Array(Set(subscribers.map(\.caller.userID)))
        let entries = try await read { try await WaitlistStore(logger: self.logger).openEntries(userIDs: users, on: $0) }
        for entry in entries {
            registry.withLock { registry in
                registry.waiting[entry.eventID, default: []].insert(entry.userID)
                if let position = entry.position { registry.sentPositions[entry.userID, default: [:]][entry.id] = position }
            }
            let message = LiveMessage(.waitlist, WaitlistBody(entry))
            for subscriber in subscribers where subscriber.caller.userID == entry.userID { subscriber.deliver(message) }
        }
    }

    private func sendEntries(_ entries: [WaitlistEntry], onlyMoved: Bool) async throws {
        for entry in entries {
            let moved = registry.withLock { registry -> Bool in
                guard let position = entry.position, registry.byUser[entry.userID] != nil else { return false }
                defer { registry.sentPositions[entry.userID, default: [:]][entry.id] = position }
                return registry.sentPositions[entry.userID]?[entry.id] != position
            }
            guard moved || !onlyMoved else { continue }
            let message = LiveMessage(.waitlist, WaitlistBody(entry))
            for subscriber in subscribers(ofUser: entry.userID) { subscriber.deliver(message) }
            metrics.sent(.waitlist)
        }
    }

    /// Keeps the index of who waits in which line up to date as entries change.
    private func noteWaitlist(_ change: LiveChange) {
        guard case .waitlist(let entry) = change.row else { return }
        registry.withLock { registry in
            if entry.status == .waiting || entry.status == .offered {
                guard registry.byUser[entry.userID] != nil else { return }
                registry.waiting[entry.eventID, default: []].insert(entry.userID)
                if let position = entry.position { registry.sentPositions[entry.userID, default: [:]][entry.id] = position }
            } else {
                registry.sentPositions[entry.userID]?[entry.id] = nil
                registry.waiting[entry.eventID]?.remove(entry.userID)
                if registry.waiting[entry.eventID]?.isEmpty == true { registry.waiting[entry.eventID] = nil }
            }
        }
    }

    private func queuesLoop() async {
        let jobs = JobClient(client: client, logger: logger, deadline: databaseTimeout)
        while !Task.isCancelled {
            do { try await Task.sleep(for: settings.queuesInterval) } catch { return }
            let watchers = registry.withLock { registry in registry.queueWatchers.compactMap { registry.subscribers[$0] } }
            guard !watchers.isEmpty else { continue }
            do {
                let message = LiveMessage(.queues, try await jobs.status())
                for subscriber in watchers { subscriber.deliver(message) }
                metrics.sent(.queues)
            } catch {
                if Task.isCancelled { return }
                logger.warning("queue counts for live streams could not be read: \(readableDescription(of: error))")
            }
        }
    }

    private func eventMessage(_ event: Event) -> LiveMessage {
        LiveMessage(.event, EventBody(event, pricing: pricing))
    }

    private func subscribers(ofUser user: UUID) -> [LiveSubscriber] {
        registry.withLock { registry in (registry.byUser[user] ?? []).compactMap { registry.subscribers[$0] } }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withOpenConnection(within: databaseTimeout) { try await body($0) }
    }
}

/// `evently_live_connections{transport}`, `evently_live_messages_total{type}` (fanned-out
/// changes, counted once however many streams get them),
/// `evently_live_closed_total{transport,reason}` and `evently_live_buffer_high_water` (the most
/// messages any closed stream had waiting at once: never above `live.buffer`).
final class LiveMetrics: Sendable {
    private let connections: [String: Gauge]
    private let open: Mutex<[String: Int]>
    private let highWater = Mutex(0)
    private let bufferGauge: Gauge
    private let factory: any MetricsFactory

    init(factory: any MetricsFactory) {
        self.factory = factory
        var connections: [String: Gauge] = [:]
        for transport in ["websocket", "sse"] {
            connections[transport] = Gauge(label: "evently_live_connections", dimensions: [("transport", transport)], factory: factory)
        }
        self.connections = connections
        self.open = Mutex([:])
        self.bufferGauge = Gauge(label: "evently_live_buffer_high_water", factory: factory)
    }

    func opened(transport: String) {
        let count = open.withLock { open -> Int in open[transport, default: 0] += 1; return open[transport]! }
        connections[transport]?.record(count)
    }

    func closed(transport: String, reason: LiveEnd, bufferHighWater: Int) {
        let count = open.withLock { open -> Int in open[transport, default: 0] -= 1; return open[transport]! }
        connections[transport]?.record(count)
        let highest = highWater.withLock { highest -> Int in highest = max(highest, bufferHighWater); return highest }
        bufferGauge.record(highest)
        Counter(label: "evently_live_closed_total", dimensions: [("transport", transport), ("reason", reason.metricLabel)],
                factory: factory).increment()
    }

    func sent(_ kind: LiveMessage.Kind) {
        Counter(label: "evently_live_messages_total", dimensions: [("type", kind.rawValue)], factory: factory).increment()
    }
}

extension LiveEnd {
    var metricLabel: String {
        switch self {
        case .tooSlow: "too_slow"
        case .tokenExpired: "token_expired"
        case .shuttingDown: "shutting_down"
        case .clientGone: "client_closed"
        case .unauthorized: "unauthorized"
        case .forbiddenOrigin: "forbidden_origin"
        case .authenticationTimeout: "authentication_timeout"
        case .tooManyConnections: "too_many_streams"
        }
    }
}
