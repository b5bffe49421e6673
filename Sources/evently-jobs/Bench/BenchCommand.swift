import ArgumentParser
import Dispatch
import Foundation
import Logging
import PostgresNIO
import Queue
import Synchronization

/// `evently-jobs bench`: enqueue rates, drain throughput against the raw SQL limit measured in the
/// same run (interleaved A B A B), and enqueue-to-start latency at a steady rate.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Measure the queue against the raw SQL limit of the same PostgreSQL.",
        subcommands: [ConsoleBenchCommand.self, LiveBenchCommand.self])

    @OptionGroup var options: ConfigOptions
    @Option(help: "Jobs drained per round.") var jobs = 100_000
    @Option(help: "Rounds of raw SQL limit then daemon drain, interleaved.") var rounds = 3
    @Option(help: "Jobs per claim, for the daemon and the raw loop alike.") var batch = 100
    @Option(help: "Worker slots of the daemon's queue (claims start when a quarter, at most a batch, is free).") var concurrency = 400
    @Option(help: "Connections of the raw loop.") var rawConnections = 2
    @Option(help: "The daemon's queue.claims_in_flight.") var claimsInFlight = JobDaemon.Configuration().claimsInFlight
    @Option(help: "A second drain per round with this queue.claims_in_flight, as the previous version's baseline; 0 leaves it out.")
    var baselineClaimsInFlight = 1
    @Option(help: "Clients of the pgbench baseline (the same claim and complete statements); 0 leaves it out.") var pgbenchClients = 4
    @Option(help: "Steady enqueue rate for the latency run, jobs/s.") var rate = 500
    @Option(help: "Length of the latency run, seconds.") var latencySeconds = 10
    @Option(help: "Jobs enqueued one per transaction.") var singles = 2_000
    @Option(help: "Finished jobs kept as history (e.g. 10000000): drains beside a database with this history, and claim latency during a prune of half of it; 0 leaves it out.")
    var history = 0
    @Flag(help: "With --history: reuse evently_bench_history when an earlier run filled it with the same number and stopped before its prune (skips the fill).")
    var keepHistory = false
    @Flag(help: "With --history: measure only the history (skip enqueue, drain and latency rounds on the empty table).")
    var historyOnly = false
    @Flag(help: "With --history: fill the history into the legacy partition, as a database upgraded to q0005 with its history has it (default: one partition per day, as after a month on q0005).")
    var historyInLegacy = false
    @Flag(help: "Per round, also drain with database.url naming a second (unreachable) host, so the daemon goes through its failover relay; the ratio to the direct drain is its cost. Needs a TCP database.")
    var throughRelay = false

    func validate() throws {
        guard history > 0 || !(keepHistory || historyOnly || historyInLegacy) else {
            throw ValidationError("--keep-history, --history-only and --history-in-legacy need --history N")
        }
    }

    func run() async throws {
        try await options.withDatabase(logLevel: { _ in .warning }) { _, logger, base in
            let benchConfiguration = try await Self.freshDatabase("evently_bench", base: base, logger: logger)
            let client = PostgresClient(configuration: benchConfiguration, backgroundLogger: logger)
            try await client.whileRunning {
                try await DatabaseSchema.migrator(logger: logger).migrate(client)
                let queue = JobClient(client: client, logger: logger)
                var report = BenchReport(jobs: jobs, batch: batch, concurrency: concurrency, rawConnections: rawConnections,
                                         pgbenchClients: pgbenchClients)
                print("evently-jobs bench: \(jobs) jobs per round, batch \(batch), \(ProcessInfo.processInfo.activeProcessorCount) cores")
                if historyOnly {
                    try await measureHistory(base: base, empty: client, emptyURL: Self.url(for: benchConfiguration), logger: logger)
                    return
                }

                // 1. Enqueue rates.
                var started = ContinuousClock.now
                for _ in 0..<singles { try await queue.enqueue(NewJob(kind: "diag.noop")) }
                report.singleEnqueueRate = Double(singles) / (ContinuousClock.now - started).timeInterval
                try await QueueBenchmark.reset(client: client, logger: logger)
                started = ContinuousClock.now
                try await insertNoops(jobs, queue)
                report.batchEnqueueRate = Double(jobs) / (ContinuousClock.now - started).timeInterval
                print(String(format: "enqueue: %.0f jobs/s one per transaction, %.0f jobs/s batched", report.singleEnqueueRate, report.batchEnqueueRate))

                // 2. Interleaved: raw SQL limit, then the daemon's own pipeline, on the same data size.
                var relayRatios: [Double] = []
                // The same starting point for every drain: an empty table, `jobs` no-ops, fresh statistics.
                func refill() async throws {
                    try await QueueBenchmark.reset(client: client, logger: logger)
                    try await insertNoops(jobs, queue)
                    try await QueueBenchmark.analyze(client: client, logger: logger)
                }
                for round in 1...rounds {
                    if round > 1 {
                        try await QueueBenchmark.reset(client: client, logger: logger)
                        try await insertNoops(jobs, queue)
                    }
                    try await QueueBenchmark.analyze(client: client, logger: logger)
                    let raw = try await QueueBenchmark.rawClaimCompleteRate(
                        client: client, batch: batch, connections: rawConnections, logger: logger)
                    let rawRate = Double(raw.jobs) / raw.seconds

                    var pgbenchRate = Double.nan
                    if pgbenchClients > 0 {
                        try await refill()
                        pgbenchRate = try await PgbenchBaseline.drain(jobs: jobs, batch: batch, clients: pgbenchClients,
                                                                      databaseURL: Self.url(for: benchConfiguration), client: client, logger: logger)
                    }

                    try await refill()
                    var baselineDrainRate = Double.nan
                    if baselineClaimsInFlight > 0 {
                        baselineDrainRate = try await drainWithDaemon(client: client, databaseURL: Self.url(for: benchConfiguration),
                                                                      claimsInFlight: baselineClaimsInFlight, logger: logger).rate
                        try await refill()
                    }
                    // Through the relay before the direct drain in even rounds, after it in odd ones,
                    // so that neither always runs on a warmer server.
                    var relayed: (rate: Double, idleRSSMiB: Double, peakRSSMiB: Double)?
                    if throughRelay && round % 2 == 0 {
                        relayed = try await drainWithDaemon(client: client, databaseURL: try Self.relayURL(for: benchConfiguration),
                                                            claimsInFlight: claimsInFlight, logger: logger)
                        try await refill()
                    }
                    let drain = try await drainWithDaemon(client: client, databaseURL: Self.url(for: benchConfiguration),
                                                          claimsInFlight: claimsInFlight, logger: logger)
                    report.rounds.append(.init(rawRate: rawRate, pgbenchRate: pgbenchRate, drainRate: drain.rate,
                                               baselineDrainRate: baselineDrainRate,
                                               idleRSSMiB: drain.idleRSSMiB, peakRSSMiB: drain.peakRSSMiB))
                    if baselineClaimsInFlight > 0 {
                        print(String(format: "round %d: drain with claims_in_flight = %d: %.0f jobs/s; with %d: %.0f jobs/s (ratio %.2f)",
                                     round, baselineClaimsInFlight, baselineDrainRate, claimsInFlight, drain.rate, drain.rate / baselineDrainRate))
                    }
                    if throughRelay && relayed == nil {
                        try await refill()
                        relayed = try await drainWithDaemon(client: client, databaseURL: try Self.relayURL(for: benchConfiguration),
                                                            claimsInFlight: claimsInFlight, logger: logger)
                    }
                    if let relayed {
                        relayRatios.append(relayed.rate / drain.rate)
                        print(String(format: "round %d: drain through the failover relay %.0f jobs/s, direct %.0f jobs/s (ratio %.2f)",
                                     round, relayed.rate, drain.rate, relayed.rate / drain.rate))
                    }
                    print(String(format: "round %d: raw SQL limit %.0f jobs/s, pgbench (%d clients) %.0f jobs/s, daemon drain %.0f jobs/s, ratio to raw %.2f, to pgbench %.2f, idle RSS %.0f MiB, peak RSS %.0f MiB",
                                 round, rawRate, pgbenchClients, pgbenchRate, drain.rate, drain.rate / rawRate, drain.rate / pgbenchRate,
                                 drain.idleRSSMiB, drain.peakRSSMiB))
                }

                if !relayRatios.isEmpty {
                    let sorted = relayRatios.sorted()
                    print(String(format: "drain through the failover relay ÷ direct: median %.2f (%.2f–%.2f)",
                                 sorted[sorted.count / 2], sorted.first!, sorted.last!))
                }

                // 3. Latency from enqueue to start at a steady rate.
                try await QueueBenchmark.reset(client: client, logger: logger)
                report.latencies = try await measureLatency(client: client, queue: queue, logger: logger)
                print(report.table)

                // 4. The same drain with a large history of finished jobs, and claims during a prune.
                if history > 0 {
                    try await measureHistory(base: base, empty: client, emptyURL: Self.url(for: benchConfiguration), logger: logger)
                }
            }
        }
    }

    /// Drains on a database holding `history` finished jobs (spread over 30 days) against drains
    /// on the empty one, interleaved; then claim latency on the history database before and
    /// while `queue.prune` deletes the older half of it.
    func measureHistory(base: PostgresClient.Configuration, empty: PostgresClient, emptyURL: String, logger: Logger) async throws {
        let name = "evently_bench_history"
        // The history's own jobs include `diag.noop` ones: only jobs after the fill's last id are
        // the bench's. (Deleting every no-op, as before, took ~900,000 rows out of history and left
        // a hole in every page of it: not the history the rounds claim to measure beside.)
        let mark = "evently-jobs bench --history \(history)\(historyInLegacy ? " --history-in-legacy" : ""): filled up to id "
        var configuration = Self.configuration(of: name, base: base)
        var filledUpTo: Int64? = nil
        if keepHistory, let comment = try await ConsoleBenchCommand.databaseComment(name, base: base, logger: logger),
           comment.hasPrefix(mark) {
            filledUpTo = Int64(comment.dropFirst(mark.count))
        }
        if filledUpTo == nil { configuration = try await Self.freshDatabase(name, base: base, logger: logger) }
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let noop = DiagnosticWorkers.Noop.Payload.kind
        try await client.whileRunning {
            try await DatabaseSchema.migrator(logger: logger).migrate(client)
            let lastFilled: Int64
            if let filledUpTo {
                print("\(name): kept from an earlier run (\(history) finished jobs up to id \(filledUpTo))")
                lastFilled = filledUpTo
            } else {
                if !historyInLegacy { try await QueueBenchmark.partitionHistoryByDay(days: 31, client: client, logger: logger) }
                try await ConsoleBenchCommand.fill(client, name: "history", finished: history, unfinished: 0, chunk: 1_000_000, logger: logger)
                lastFilled = try await QueueBenchmark.lastJobID(client: client, logger: logger)
                try await client.query("COMMENT ON DATABASE \(unescaped: name) IS \(unescaped: "'\(mark)\(lastFilled)'")", logger: logger)
            }
            let emptyQueue = JobClient(client: empty, logger: logger), historyQueue = JobClient(client: client, logger: logger)
            // The queue beside the history holds exactly `count` fresh no-ops, with statistics.
            func refillHistoryQueue(_ count: Int) async throws {
                try await QueueBenchmark.delete(kind: noop, after: lastFilled, client: client, logger: logger)
                try await insertNoops(count, historyQueue)
                try await QueueBenchmark.analyze(client: client, logger: logger)
            }
            var ratios: [Double] = []
            for round in 1...rounds {
                try await QueueBenchmark.reset(client: empty, logger: logger)
                try await insertNoops(jobs, emptyQueue)
                try await QueueBenchmark.analyze(client: empty, logger: logger)
                let bare = try await drainWithDaemon(client: empty, databaseURL: emptyURL, claimsInFlight: claimsInFlight, logger: logger)

                try await refillHistoryQueue(jobs)
                let kept = try await drainWithDaemon(client: client, databaseURL: Self.url(for: configuration),
                                                     claimsInFlight: claimsInFlight, logger: logger)
                ratios.append(kept.rate / bare.rate)
                print(String(format: "history round %d: drain on an empty table %.0f jobs/s, beside %d finished jobs %.0f jobs/s, ratio %.2f",
                             round, bare.rate, history, kept.rate, kept.rate / bare.rate))
            }
            print(String(format: "drain with history ÷ empty, median of %d rounds: %.2f", rounds, BenchReport.median(ratios)))

            // Claims of the daemon's default batch while nothing else runs, then while the prune runs
            // beside them, then quiet again for as long as the claims beside the prune ran.
            let claimBatch = JobDaemon.Configuration().claimBatch
            try await refillHistoryQueue(2 * jobs)
            let quietWindow = Duration.seconds(10)
            let quiet = try await QueueBenchmark.claimLatencies(client: client, batch: claimBatch, duration: quietWindow, logger: logger)
                .map(\.seconds)
            // Enough jobs for two minutes of claims at the quiet rate: with a fixed 2 × jobs, the
            // claims beside a prune of 10 M rows ran out half-way through it (2,001 claims in 24 s
            // of a 50 s prune), and the figure missed the prune's second half.
            let quietJobsPerSecond = Double(quiet.count * claimBatch) / quietWindow.timeInterval
            let supply = min(3_000_000, max(2 * jobs, Int(quietJobsPerSecond * 120)))
            try await refillHistoryQueue(supply)
            // The prune deletes half of the history: a later --keep-history must fill anew.
            try await client.query("COMMENT ON DATABASE \(unescaped: name) IS NULL", logger: logger)
            // Counted before the clock starts: a count of millions of rows is the bench's own work,
            // and its parallel scan took both cores for a while.
            let retention = Duration.seconds(15 * 86_400)
            let older = try await QueueBenchmark.finishedJobs(olderThan: retention, client: client, logger: logger)
            let pruneStarted = ContinuousClock.now
            let pruneDone = PruneFinished()
            async let pruning = Self.prune(client: client, retention: retention, done: pruneDone, logger: logger)
            // For as long as the prune runs (at most five minutes): claims after it would dilute the figure.
            let during = try await QueueBenchmark.claimLatencies(client: client, batch: claimBatch, duration: .seconds(300),
                                                                 stop: { pruneDone.flag.load(ordering: .relaxed) }, logger: logger)
            let claimsEnded = ContinuousClock.now
            let pruned = try await pruning
            let pruneDuration = ContinuousClock.now - pruneStarted
            let duringWindow = claimsEnded - pruneStarted
            printSlowestClaims(during, pruneStarted: pruneStarted, pruned: pruned)
            if duringWindow < pruneDuration - .seconds(1) {
                print(String(format: "the %d queued jobs ran out %.1f s into the prune of %.1f s: the claims cover only that part of it",
                             supply, duringWindow.timeInterval, pruneDuration.timeInterval))
            }
            // Quiet again, for as long as the claims beside the prune ran: a p99 over 10 s against
            // one over 50 s compares windows of which only the longer holds the server's
            // checkpoints (one every 20-30 s while the bench writes), whatever the prune does.
            try await refillHistoryQueue(supply)
            let quietAsLong = try await QueueBenchmark.claimLatencies(client: client, batch: claimBatch, duration: duringWindow,
                                                                      logger: logger).map(\.seconds)
            func milliseconds(_ values: [Double], _ p: Double) -> Double { BenchReport.percentile(values, p) * 1000 }
            let duringSeconds = during.map(\.seconds)
            print(String(format: "claim latency (batch %d): quiet for 10 s p50 %.2f ms, p99 %.2f ms (%d claims); during a prune of %d rows (%.0f s; %d days dropped, %d rows deleted): p50 %.2f ms, p99 %.2f ms (%d claims in %.0f s); quiet after it for as long: p50 %.2f ms, p99 %.2f ms (%d claims)",
                         claimBatch, milliseconds(quiet, 0.5), milliseconds(quiet, 0.99), quiet.count, older, pruneDuration.timeInterval,
                         pruned.droppedDays, pruned.deletedRows,
                         milliseconds(duringSeconds, 0.5), milliseconds(duringSeconds, 0.99), during.count, duringWindow.timeInterval,
                         milliseconds(quietAsLong, 0.5), milliseconds(quietAsLong, 0.99), quietAsLong.count))
            print(String(format: "p99 during the prune ÷ quiet: %.2f against the quiet window as long, %.2f against the 10 s one",
                         milliseconds(duringSeconds, 0.99) / milliseconds(quietAsLong, 0.99),
                         milliseconds(duringSeconds, 0.99) / milliseconds(quiet, 0.99)))
        }
    }

    /// `queue.prune`'s run, then `done` set (however it ended) so the claims beside it stop.
    private static func prune(client: PostgresClient, retention: Duration, done: PruneFinished, logger: Logger) async throws -> RetentionWorker.Pruned {
        defer { done.flag.store(true, ordering: .relaxed) }
        return try await RetentionWorker.prune(client: client, retention: retention, logger: logger)
    }

    /// Where in the prune the slowest claims fell: which of its steps a long tail comes from.
    func printSlowestClaims(_ claims: [QueueBenchmark.ClaimLatency], pruneStarted: ContinuousClock.Instant, pruned: RetentionWorker.Pruned) {
        print(String(format: "prune: days dropped over 0-%.2f s, rows deleted over the last %.2f s",
                     pruned.dropping.timeInterval, pruned.deleting.timeInterval))
        let slowest = claims.sorted { $0.seconds > $1.seconds }.prefix(max(5, claims.count / 100))
        print("slowest claims (started at s into the prune: ms): " + slowest.map {
            String(format: "%.2f: %.1f", ($0.started - pruneStarted).timeInterval, $0.seconds * 1000)
        }.joined(separator: ", "))
    }

    func insertNoops(_ count: Int, _ queue: JobClient) async throws {
        let job = NewJob(kind: "diag.noop")
        var remaining = count
        while remaining > 0 {
            let chunk = min(remaining, 5_000)
            try await queue.enqueue(Array(repeating: job, count: chunk))
            remaining -= chunk
        }
    }

    /// Drops and creates `name` on the server of `base`, so every run starts from nothing, and
    /// returns `base` pointed at it with the pool every bench uses.
    static func freshDatabase(_ name: String, base: PostgresClient.Configuration, logger: Logger) async throws -> PostgresClient.Configuration {
        let admin = PostgresClient(configuration: base, backgroundLogger: logger)
        try await admin.whileRunning {
            try await admin.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
            try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
        return configuration(of: name, base: base)
    }

    /// `base` pointed at the database `name`, with the pool every bench uses.
    static func configuration(of name: String, base: PostgresClient.Configuration) -> PostgresClient.Configuration {
        var configuration = base
        configuration.database = name
        configuration.options.maximumConnections = 24
        return configuration
    }

    func daemonConfiguration(pollInterval: Duration = .seconds(1)) -> JobDaemon.Configuration {
        var configuration = JobDaemon.Configuration()
        configuration.queues = ["default": concurrency]
        configuration.claimBatch = batch
        configuration.pollInterval = pollInterval
        configuration.workerName = "bench"
        return configuration
    }

    /// Drains with a real `evently-jobs serve` process, so time and peak memory are the daemon's
    /// own. The queue is paused while the process starts; the clock starts at resume.
    func drainWithDaemon(client: PostgresClient, databaseURL: String, claimsInFlight: Int, logger: Logger) async throws
        -> (rate: Double, idleRSSMiB: Double, peakRSSMiB: Double) {
        let jobs = JobClient(client: client, logger: logger)
        try await jobs.setPaused(true, queue: "default")
        let daemon = try await Self.startServe(configuration: """
            [database]
            url = "\(databaseURL)"
            pool_size = 12
            [http]
            enabled = false
            [log]
            level = "warning"
            [scheduler]
            enabled = false
            [queue]
            claim_batch = \(batch)
            claims_in_flight = \(claimsInFlight)
            [queue.default]
            concurrency = \(concurrency)
            """, client: client, logger: logger)
        defer { daemon.stop() }
        // Idle: started, connected, its queue paused; a second to settle after start-up.
        try await Task.sleep(for: .seconds(1))
        let idle = ProcessMemory.residentMiB(pid: daemon.process.pid)
        let started = ContinuousClock.now
        try await jobs.setPaused(false, queue: "default")
        while try await QueueBenchmark.anyUnfinished(client: client, logger: logger) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = ContinuousClock.now - started
        let peak = ProcessMemory.peakResidentMiB(pid: daemon.process.pid)
        daemon.process.terminate(within: .seconds(60))
        return (Double(self.jobs) / elapsed.timeInterval, idle, peak)
    }

    func measureLatency(client: PostgresClient, queue: JobClient, logger: Logger) async throws -> [Double] {
        let samples = LatencySamples()
        var registry = WorkerRegistry()
        try registry.register(LatencyProbe(samples: samples))
        let daemon = JobDaemon(client: client, registry: registry, configuration: daemonConfiguration(), logger: logger)
        let total = rate * latencySeconds
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run() }
            defer { group.cancelAll() }
            try await Task.sleep(for: .milliseconds(500))   // the LISTEN connection is up
            // Four paced enqueuers, each one job per tick, like API servers committing bookings.
            let enqueuers = 4
            try await withThrowingTaskGroup(of: Void.self) { senders in
                for sender in 0..<enqueuers {
                    senders.addTask {
                        let interval = Duration.nanoseconds(Int64(1e9 / Double(rate) * Double(enqueuers)))
                        var next = ContinuousClock.now + interval / enqueuers * sender
                        for _ in 0..<(total / enqueuers) {
                            try await Task.sleep(until: next)
                            next += interval
                            let probe = LatencyProbe.Payload(enqueuedAtNanoseconds: DispatchTime.now().uptimeNanoseconds)
                            try await queue.enqueue(probe)
                        }
                    }
                }
                try await senders.waitForAll()
            }
            while samples.values.withLock({ $0.count }) < total / enqueuers * enqueuers {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return samples.values.withLock { $0 }
    }
}

/// An `evently-jobs serve` started by a bench, with the folder of its configuration.
struct ServeProcess {
    let process: ChildProcess
    let directory: URL

    /// Stops the daemon (SIGTERM, then SIGKILL after a minute) and removes its folder.
    func stop() {
        process.terminate(within: .seconds(60))
        try? FileManager.default.removeItem(at: directory)
    }
}

extension BenchCommand {
    /// Starts a real `evently-jobs serve` of this very binary (so that the daemon measured is the
    /// one under test) with `configuration` as its jobs.conf, and returns once its LISTEN
    /// connection shows on the database of `client`, i.e. once it is up.
    static func startServe(configuration: String, client: PostgresClient, logger: Logger) async throws -> ServeProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("evently-bench-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configPath = directory.appendingPathComponent("jobs.conf").path
        let process: ChildProcess
        do {
            try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            process = try ChildProcess([executable, "serve", "--config", configPath])
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        let serve = ServeProcess(process: process, directory: directory)
        do {
            // The daemon is up once its LISTEN connection is: it then shows in pg_stat_activity.
            while try await QueueBenchmark.listenerCount(client: client, logger: logger) == 0 {
                guard process.isRunning else { throw CommandFailure(message: "the daemon exited during start-up") }
                try await Task.sleep(for: .milliseconds(20))
            }
        } catch {
            serve.stop()
            throw error
        }
        return serve
    }

    /// The same database named as the first of two hosts (the second refuses every connection),
    /// which puts the daemon's failover relay between it and the server.
    static func relayURL(for configuration: PostgresClient.Configuration) throws -> String {
        guard configuration.unixSocketPath == nil, let host = configuration.host else {
            throw CommandFailure(message: "--through-relay needs database.url over TCP (the relay forwards TCP)")
        }
        let direct = url(for: configuration)
        let hostPort = "\(host):\(configuration.port ?? 5432)"
        guard let range = direct.range(of: "@\(hostPort)") ?? direct.range(of: "//\(hostPort)") else {
            throw CommandFailure(message: "cannot place a second host in \(DatabaseLocation.redacted(direct))")
        }
        // The second host is an address, which the relay allows only without TLS (the bench
        // database is a local one).
        let relayed = direct.replacingCharacters(in: range, with: String(direct[range]) + ",127.0.0.1:9")
        return relayed + (relayed.contains("?") ? "&" : "?") + "sslmode=disable"
    }

    /// A URL for the daemon process that reaches the same database as `configuration`.
    static func url(for configuration: PostgresClient.Configuration) -> String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = configuration.username
        components.password = configuration.password
        components.path = "/" + (configuration.database ?? configuration.username)
        if let socket = configuration.unixSocketPath {
            let socketURL = URL(fileURLWithPath: socket)
            components.host = "localhost"
            components.port = Int(socketURL.pathExtension)
            components.queryItems = [URLQueryItem(name: "host", value: socketURL.deletingLastPathComponent().path)]
        } else {
            components.host = configuration.host
            components.port = configuration.port
        }
        return components.string ?? ""
    }
}

/// Set when the prune of `bench --history` has ended.
private final class PruneFinished: Sendable {
    let flag = Atomic<Bool>(false)
}

