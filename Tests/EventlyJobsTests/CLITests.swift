import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// The operator CLI (`enqueue`, `status`, `jobs …`, `queues …`, `schedules`, `migrate`) as an
/// operator runs it: the real binary as a child process with `--config`, against a fresh
/// database of the shared test cluster. Each test checks the exit code, the output an operator
/// reads, and what the command did to the database.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CLITests {
    let logger = TestDatabase.logger

    // MARK: Helpers

    /// One finished run of the CLI.
    struct Run: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var description: String { "exit \(status)\n--- stdout:\n\(stdout)\n--- stderr:\n\(stderr)" }
        /// Standard output's non-empty lines.
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
        /// The line of a table whose first cell is `first`, split into cells.
        func row(_ first: String) -> [String]? {
            lines.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }.first { $0.first == first }
        }
    }

    /// Runs `evently-jobs ARGUMENTS [--config CONFIG]` with standard output and error apart.
    /// `EVENTLY_DATABASE_URL` is unset unless `environment` sets it, so the file decides.
    static func cli(_ arguments: [String], config: String?, environment: [String: String] = [:],
                    timeout: Duration = .seconds(90)) async throws -> Run {
        let base = NSTemporaryDirectory() + "evently-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(base + ".out"); unlink(base + ".err") }
        var command = ["/usr/bin/env", "-u", "EVENTLY_DATABASE_URL"]
            + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            + [DaemonProcess.executable] + arguments
        if let config { command += ["--config", config] }
        let child = try ChildProcess(command, output: .file(base + ".out"), error: .file(base + ".err"))
        let status = await child.waitForExit(timeout: timeout)
        let run = Run(status: status ?? -1,
                      stdout: (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? "")
        guard status != nil else {
            child.signal(SIGKILL)
            child.waitForExit()
            Issue.record("evently-jobs \(arguments.joined(separator: " ")) still ran after \(timeout)\n\(run)")
            throw CancellationError()
        }
        return run
    }

    /// A fresh database, a config file for it, and a client to set up and inspect its state.
    struct Fixture {
        let client: PostgresClient
        let jobs: JobClient
        let database: String
        let directory: URL
        let config: String
        let logger: Logger

        /// `evently-jobs ARGUMENTS --config <this fixture's file>`.
        func cli(_ arguments: String..., environment: [String: String] = [:]) async throws -> Run {
            try await CLITests.cli(arguments, config: config, environment: environment)
        }

        func cli(_ arguments: [String]) async throws -> Run {
            try await CLITests.cli(arguments, config: config)
        }

        /// The first column of the first row of `sql`, as an integer (0 when there is no row).
        func number(_ sql: String) async throws -> Int {
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            for try await value in rows.decode(Int?.self) { return value ?? 0 }
            return 0
        }

        /// The first column of the first row of `sql`, as text.
        func text(_ sql: String) async throws -> String? {
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
            for try await value in rows.decode(String?.self) { return value }
            return nil
        }

        func execute(_ sql: String) async throws {
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        }

        /// Writes `text` to a config file named `name` beside the fixture's own; returns its path.
        func writeConfig(_ name: String, _ text: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
    }

    /// `[database]` for `database` on the test cluster, as an operator would write it.
    static func databaseSection(_ database: String) async throws -> String {
        let cluster = try await TestDatabase.cluster()
        return """
            [database]
            url = "postgres://\(cluster.username)@localhost/\(database)?host=\(cluster.socketDirectory.path)"
            pool_size = 2

            """
    }

    /// Runs `body` with a fresh database (migrated the way the CLI migrates unless `migrated`
    /// is false) and a config file for it that ends with `extraConfig`.
    func withFixture(migrated: Bool = true, extraConfig: String = "", _ body: (Fixture) async throws -> Void) async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = try await TestDatabase.makeDatabase(prefix: "cli")
        let database = configuration.database!
        let config = directory.appendingPathComponent("jobs.conf").path
        try (try await Self.databaseSection(database) + extraConfig).write(toFile: config, atomically: true, encoding: .utf8)
        try await TestDatabase.withClient(configuration: configuration) { client in
            if migrated { try await DatabaseSchema.migrator(logger: logger).migrate(client) }
            try await body(Fixture(client: client, jobs: JobClient(client: client, logger: logger), database: database,
                                   directory: directory, config: config, logger: logger))
        }
    }

    /// Standard output parsed as JSON.
    func json(_ run: Run) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
    }

    // MARK: migrate

    @Test(.timeLimit(.minutes(2)))
    func migrateCreatesTheSchemaAndASecondRunIsANoOp() async throws {
        try await withFixture(migrated: false) { db in
            #expect(try await db.number("SELECT (to_regclass('evently_jobs.jobs') IS NOT NULL)::int") == 0)
            let expected = DatabaseSchema.migrations.count

            let first = try await db.cli("migrate")
            #expect(first.status == 0, "\(first)")
            #expect(first.stdout.hasPrefix("applied \(expected) migration(s): "), "\(first)")
            #expect(first.stdout.contains("queue/1 jobs"), "\(first)")
            #expect(first.stdout.contains("scheduler/1 schedule_ticks"), "\(first)")
            for table in ["evently_jobs.jobs", "evently_jobs.queues", "evently_jobs.daemons", "evently_jobs.schedule_ticks"] {
                #expect(try await db.number("SELECT (to_regclass('\(table)') IS NOT NULL)::int") == 1, "\(table) exists")
            }
            #expect(try await db.number("SELECT count(*)::bigint FROM public.evently_schema_migrations") == expected)

            let second = try await db.cli("migrate")
            #expect(second.status == 0, "\(second)")
            #expect(second.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "database is up to date", "\(second)")
            #expect(try await db.number("SELECT count(*)::bigint FROM public.evently_schema_migrations") == expected)
        }
    }

    // MARK: enqueue

    @Test(.timeLimit(.minutes(2)))
    func enqueuePrintsTheIdAndStoresTheJobWithItsOptions() async throws {
        try await withFixture { db in
            let plain = try await db.cli("enqueue", "diag.noop")
            #expect(plain.status == 0, "\(plain)")
            let plainID = try #require(Int64(plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(plain)")
            let stored = try await db.jobs.job(id: plainID)
            #expect(stored.kind == "diag.noop")
            #expect(stored.queue == "default")
            #expect(stored.state == .available)
            #expect(stored.priority == 0)
            #expect(stored.maxAttempts == 25)
            #expect(stored.uniqueKey == nil)
            #expect(try await db.text("SELECT args::text FROM evently_jobs.jobs WHERE id = \(plainID)") == "{}")

            let full = try await db.cli("enqueue", "diag.sleep", "--args", #"{"ms": 10}"#, "--queue", "slow", "--priority", "-5",
                                        "--run-at", "2030-01-01T09:00:00Z", "--unique-key", "nightly-1", "--max-attempts", "3")
            #expect(full.status == 0, "\(full)")
            let fullID = try #require(Int64(full.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(full)")
            #expect(fullID != plainID)
            let job = try await db.jobs.job(id: fullID)
            #expect(job.kind == "diag.sleep")
            #expect(job.queue == "slow")
            #expect(job.priority == -5)
            #expect(job.runAt == ISO8601DateFormatter().date(from: "2030-01-01T09:00:00Z"))
            #expect(job.state == .scheduled, "a future run_at waits")
            #expect(job.uniqueKey == "nightly-1")
            #expect(job.maxAttempts == 3)
            let args = try JSONSerialization.jsonObject(with: Data(job.args.utf8)) as? [String: Any]
            #expect(args?["ms"] as? Int == 10, "\(job.args)")

            // The same unique key again: the holder's id, a note on standard error, no new row.
            let again = try await db.cli("enqueue", "diag.sleep", "--unique-key", "nightly-1")
            #expect(again.status == 0, "\(again)")
            #expect(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(fullID)", "\(again)")
            #expect(again.stderr.contains("unique key 'nightly-1' is held by unfinished job \(fullID): nothing enqueued"), "\(again)")
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.jobs") == 2)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func enqueueRefusesBadInputWithAClearMessageAndWritesNothing() async throws {
        try await withFixture { db in
            // (arguments, exit status, what standard error must say)
            let cases: [([String], Int32, String)] = [
                (["enqueue", "diag.noop", "--bogus"], 64, "Unknown option '--bogus'"),
                (["enqueue"], 64, "Missing expected argument '<kind>'"),
                (["enqueue", ""], 64, "a job needs a kind"),
                (["enqueue", "diag.noop", "--args", "{nope"], 64, "the arguments of a diag.noop job must be a JSON object, got: {nope"),
                (["enqueue", "diag.noop", "--args", "[1, 2]"], 64, "must be a JSON object, got: [1, 2]"),
                (["enqueue", "diag.noop", "--run-at", "tomorrow"], 64, "--run-at must be an RFC 3339 time such as 2026-01-01T09:00:00Z, got 'tomorrow'"),
                (["enqueue", "diag.noop", "--run-at", "2030-01-01 09:00"], 64, "--run-at must be an RFC 3339 time"),
                (["enqueue", "diag.noop", "--max-attempts", "0"], 64, "max attempts must be at least 1"),
                (["enqueue", "diag.noop", "--priority", "high"], 64, "The value 'high' is invalid for '--priority <priority>'"),
                (["enqueue", "diag.noop", "--queue="], 64, "Missing value for '--queue <queue>'"),
                (["enqueue", "diag.noop", "--priority", "99999999999"], 64, "--priority must be between -2147483648 and 2147483647"),
                (["enqueue", "diag.noop", "--queue", "no spaces"], 64, "the queue name must be 1 to 64"),
            ]
            for (arguments, status, message) in cases {
                let run = try await db.cli(arguments)
                #expect(run.status == status, "\(arguments): \(run)")
                #expect(run.stderr.contains(message), "\(arguments): \(run)")
                #expect(run.stdout.isEmpty, "no id printed for \(arguments): \(run)")
            }
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.jobs") == 0, "nothing enqueued")
        }
    }

    /// The CLI applies no kind rule (the HTTP intake's `enqueue_kinds` is not consulted): an
    /// operator may enqueue any kind, even one no worker has. `status` then names it as waiting.
    @Test(.timeLimit(.minutes(2)))
    func enqueueTakesAnyKindAndStatusShowsWhatNoDaemonRuns() async throws {
        try await withFixture { db in
            let run = try await db.cli("enqueue", "no.such.kind")
            #expect(run.status == 0, "\(run)")
            let id = try #require(Int64(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(run)")
            #expect(try await db.jobs.job(id: id).kind == "no.such.kind")
            let status = try await db.cli("status")
            #expect(status.status == 0, "\(status)")
            #expect(status.stdout.contains("waiting for a daemon that can run them"), "\(status)")
            #expect(status.row("default").map { Array($0.prefix(2)) } == ["default", "1"], "\(status)")
            #expect(status.lines.contains { $0.split(separator: " ", omittingEmptySubsequences: true) == ["default", "no.such.kind", "1"] },
                    "\(status)")
        }
    }

    // MARK: status

    /// default: 3 available diag.noop, 1 scheduled diag.sleep. mail (paused): 2 available, 1
    /// running, 1 completed, 1 cancelled, 1 discarded, all diag.noop. A live daemon runs diag.noop
    /// on default only.
    func makeStatusScene(_ db: Fixture) async throws {
        for _ in 0..<3 { _ = try await db.jobs.enqueue(NewJob(kind: "diag.noop")) }
        _ = try await db.jobs.enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": 10}"#,
                                             options: EnqueueOptions(runAt: Date().addingTimeInterval(3_600))))
        var mail: [Int64] = []
        for _ in 0..<6 { mail.append(try await db.jobs.enqueue(NewJob(kind: "diag.noop", options: EnqueueOptions(queue: "mail"))).id) }
        try await db.execute("""
            UPDATE evently_jobs.jobs SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = 'elsewhere:1',
                   lease_expires_at = now() + interval '1 hour' WHERE id = \(mail[2])
            """)
        try await db.execute("UPDATE evently_jobs.jobs SET state = 'completed', attempt = 1, finalized_at = now() WHERE id = \(mail[3])")
        _ = try await db.jobs.cancel(id: mail[4])
        try await db.execute("UPDATE evently_jobs.jobs SET state = 'discarded', attempt = 25, finalized_at = now() WHERE id = \(mail[5])")
        try await db.jobs.setPaused(true, queue: "mail")
        try await db.execute("""
            INSERT INTO evently_jobs.daemons (name, host, pid, version, queues, kinds, expires_at)
            VALUES ('cli-test:1', 'cli-test', 1, 'test', '{"default": 4}', ARRAY['diag.noop'], now() + interval '1 hour')
            """)
    }

    @Test(.timeLimit(.minutes(2)))
    func statusJSONCountsTheJobsPerQueueAndState() async throws {
        try await withFixture { db in
            let empty = try await db.cli("status", "--json")
            #expect(empty.status == 0, "\(empty)")
            #expect((try json(empty) as? [Any])?.isEmpty == true, "\(empty)")

            try await makeStatusScene(db)
            let run = try await db.cli("status", "--json")
            #expect(run.status == 0, "\(run)")
            let queues = try #require(try json(run) as? [[String: Any]], "\(run)")
            #expect(queues.map { $0["queue"] as? String } == ["default", "mail"], "\(run)")
            // Every key of every queue, as scripts read them.
            for queue in queues {
                #expect(Set(queue.keys) == ["queue", "paused", "counts", "oldest_available_age_seconds", "completed_recently",
                                            "recent_window_seconds", "without_live_worker"], "\(queue.keys)")
            }

            let statuses = try JSONDecoder().decode([QueueStatus].self, from: Data(run.stdout.utf8))
            let byQueue = Dictionary(uniqueKeysWithValues: statuses.map { ($0.queue, $0) })
            let main = try #require(byQueue["default"])
            #expect(main.counts == [.available: 3, .scheduled: 1, .running: 0, .retryable: 0, .completed: 0, .cancelled: 0, .discarded: 0])
            #expect(main.paused == false)
            #expect(main.completedRecently == 0)
            #expect((main.oldestDueAgeSeconds ?? -1) >= 0, "available jobs are waiting")
            #expect(main.withoutLiveWorker == ["diag.sleep": 1], "the live daemon runs diag.noop on default")
            let mail = try #require(byQueue["mail"])
            #expect(mail.counts == [.available: 2, .scheduled: 0, .running: 1, .retryable: 0, .completed: 1, .cancelled: 1, .discarded: 1])
            #expect(mail.paused == true)
            #expect(mail.completedRecently == 1)
            #expect(mail.recentWindowSeconds == 300)
            #expect(mail.withoutLiveWorker == ["diag.noop": 2], "no live daemon works mail")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func statusTableHasAHeaderAndARowPerQueue() async throws {
        try await withFixture { db in
            let empty = try await db.cli("status")
            #expect(empty.status == 0, "\(empty)")
            #expect(empty.lines == ["queue  available  scheduled  running  retryable  completed  cancelled  discarded  oldest_wait  done/min  paused",
                                    "(finished states count the last 5 minutes)"], "\(empty)")

            try await makeStatusScene(db)
            let run = try await db.cli("status")
            #expect(run.status == 0, "\(run)")
            #expect(run.row("queue") == ["queue", "available", "scheduled", "running", "retryable", "completed", "cancelled",
                                         "discarded", "oldest_wait", "done/min", "paused"], "\(run)")
            let main = try #require(run.row("default"), "\(run)")
            #expect(main.count == 11, "\(run)")
            #expect(Array(main.prefix(8)) == ["default", "3", "1", "0", "0", "0", "0", "0"], "\(run)")
            #expect(main.dropFirst(8).first?.hasSuffix("s") == true, "the oldest wait is in seconds: \(run)")
            #expect(Array(main.suffix(2)) == ["0.0", "no"], "\(run)")
            let mail = try #require(run.row("mail"), "\(run)")
            #expect(mail.count == 11, "\(run)")
            #expect(Array(mail.prefix(8)) == ["mail", "2", "0", "1", "0", "1", "1", "1"], "\(run)")
            #expect(Array(mail.suffix(2)) == ["0.2", "yes"], "one completion in 5 minutes; paused: \(run)")
            #expect(run.stdout.contains("(finished states count the last 5 minutes)"), "\(run)")
            // The jobs no live daemon can run, per queue and kind.
            #expect(run.stdout.contains("waiting for a daemon that can run them"), "\(run)")
            let stranded = run.lines.map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }.filter { $0.count == 3 }
            #expect(stranded.contains(["default", "diag.sleep", "1"]), "\(run)")
            #expect(stranded.contains(["mail", "diag.noop", "2"]), "\(run)")
            #expect(!stranded.contains { $0.first == "default" && $0[1] == "diag.noop" }, "the live daemon runs those: \(run)")
        }
    }

    // MARK: jobs

    @Test(.timeLimit(.minutes(2)))
    func jobsListFiltersAndPrintsTableOrJSON() async throws {
        try await withFixture { db in
            let a = try await db.jobs.enqueue(NewJob(kind: "diag.noop")).id
            let b = try await db.jobs.enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": 5}"#, options: EnqueueOptions(queue: "slow"))).id
            let c = try await db.jobs.enqueue(NewJob(kind: "diag.noop", options: EnqueueOptions(queue: "slow", maxAttempts: 4))).id
            _ = try await db.jobs.cancel(id: c)

            let all = try await db.cli("jobs", "list")
            #expect(all.status == 0, "\(all)")
            #expect(all.row("id") == ["id", "kind", "queue", "state", "attempt", "run_at", "last_error"], "\(all)")
            #expect(all.lines.count == 4, "a header and three jobs: \(all)")
            #expect(all.lines.dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) } == ["\(c)", "\(b)", "\(a)"],
                    "newest first: \(all)")
            let cancelled = try #require(all.row("\(c)"), "\(all)")
            #expect(Array(cancelled.prefix(5)) == ["\(c)", "diag.noop", "slow", "cancelled", "0/4"], "\(all)")
            #expect(all.lines.first { $0.hasPrefix("\(c) ") }?.hasSuffix("cancelled by an operator") == true, "last_error: \(all)")

            func ids(_ run: Run) throws -> [Int64] {
                let records = try #require(try json(run) as? [[String: Any]], "\(run)")
                return records.compactMap { ($0["id"] as? NSNumber)?.int64Value }
            }
            let slow = try await db.cli("jobs", "list", "--queue", "slow", "--json")
            #expect(slow.status == 0, "\(slow)")
            #expect(try ids(slow) == [c, b], "\(slow)")
            #expect(try await ids(db.cli("jobs", "list", "--kind", "diag.noop", "--json")) == [c, a])
            #expect(try await ids(db.cli("jobs", "list", "--state", "available", "--json")) == [b, a])
            #expect(try await ids(db.cli("jobs", "list", "--state", "cancelled", "--kind", "diag.noop", "--queue", "slow", "--json")) == [c])
            #expect(try await ids(db.cli("jobs", "list", "--kind", "nothing.here", "--json")) == [])
            #expect(try await ids(db.cli("jobs", "list", "--limit", "1", "--json")) == [c])
            let none = try await db.cli("jobs", "list", "--state", "discarded")
            #expect(none.lines == ["id  kind  queue  state  attempt  run_at  last_error"], "a header only: \(none)")

            let badState = try await db.cli("jobs", "list", "--state", "done")
            #expect(badState.status == 64, "\(badState)")
            #expect(badState.stderr.contains("--state must be one of available, scheduled, running, retryable, completed, cancelled, discarded"),
                    "\(badState)")
            let badLimit = try await db.cli("jobs", "list", "--limit=-1")
            #expect(badLimit.status == 64, "\(badLimit)")
            #expect(badLimit.stderr.contains("--limit must be 1 to 1000"), "\(badLimit)")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func jobsShowPrintsTheJobWithItsErrors() async throws {
        try await withFixture { db in
            let id = try await db.jobs.enqueue(NewJob(kind: "diag.sleep", argsJSON: #"{"ms": 7}"#,
                                                      options: EnqueueOptions(queue: "slow", priority: 3, uniqueKey: "show-me"))).id
            _ = try await db.jobs.cancel(id: id)
            let run = try await db.cli("jobs", "show", "\(id)")
            #expect(run.status == 0, "\(run)")
            let job = try #require(try json(run) as? [String: Any], "\(run)")
            #expect((job["id"] as? NSNumber)?.int64Value == id)
            #expect(job["kind"] as? String == "diag.sleep")
            #expect(job["queue"] as? String == "slow")
            #expect(job["state"] as? String == "cancelled")
            #expect(job["priority"] as? Int == 3)
            #expect(job["unique_key"] as? String == "show-me")
            #expect(job["finalized_at"] is String, "\(run)")
            let args = (job["args"] as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(args?["ms"] as? Int == 7, "args are the job's JSON, as text: \(run)")
            let errors = try #require(job["errors"] as? [[String: Any]], "\(run)")
            #expect(errors.count == 1)
            #expect(errors.first?["kind"] as? String == "cancelled")
            #expect(errors.first?["error"] as? String == "cancelled by an operator")

            let missing = try await db.cli("jobs", "show", "987654")
            #expect(missing.status == 1, "\(missing)")
            #expect(missing.stderr.contains("no job with id 987654"), "\(missing)")
            #expect(missing.stdout.isEmpty, "\(missing)")
            let notANumber = try await db.cli("jobs", "show", "abc")
            #expect(notANumber.status == 64, "\(notANumber)")
            #expect(notANumber.stderr.contains("The value 'abc' is invalid for '<id>'"), "\(notANumber)")
            let noID = try await db.cli("jobs", "show")
            #expect(noID.status == 64, "\(noID)")
            #expect(noID.stderr.contains("Missing expected argument '<id>'"), "\(noID)")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func jobsRetryAndCancelChangeTheStateOrSayWhyNot() async throws {
        try await withFixture { db in
            func state(_ id: Int64) async throws -> String? {
                try await db.text("SELECT state FROM evently_jobs.jobs WHERE id = \(id)")
            }
            // A job that ran out of attempts comes back, with one more attempt to spend.
            let discarded = try await db.jobs.enqueue(NewJob(kind: "diag.noop", options: EnqueueOptions(maxAttempts: 3))).id
            try await db.execute("""
                UPDATE evently_jobs.jobs SET state = 'discarded', attempt = 3, finalized_at = now(),
                       errors = '[{"attempt": 3, "at": "2026-01-01T00:00:00Z", "kind": "error", "error": "boom"}]'
                WHERE id = \(discarded)
                """)
            let retried = try await db.cli("jobs", "retry", "\(discarded)")
            #expect(retried.status == 0, "\(retried)")
            #expect(retried.stdout == "job \(discarded) is available\n", "\(retried)")
            #expect(try await state(discarded) == "available")
            #expect(try await db.number("SELECT (finalized_at IS NULL)::int FROM evently_jobs.jobs WHERE id = \(discarded)") == 1)
            #expect(try await db.number("SELECT max_attempts FROM evently_jobs.jobs WHERE id = \(discarded)") == 4)

            // Cancel, cancel again (refused), then retry the cancelled job.
            let id = try await db.jobs.enqueue(NewJob(kind: "diag.noop")).id
            let cancelled = try await db.cli("jobs", "cancel", "\(id)")
            #expect(cancelled.status == 0, "\(cancelled)")
            #expect(cancelled.stdout == "job \(id) is cancelled\n", "\(cancelled)")
            #expect(try await state(id) == "cancelled")
            let twice = try await db.cli("jobs", "cancel", "\(id)")
            #expect(twice.status == 1, "\(twice)")
            #expect(twice.stderr.contains("job \(id) is cancelled and cannot be cancelled"), "\(twice)")
            #expect(twice.stdout.isEmpty, "\(twice)")
            #expect(try await db.number("SELECT jsonb_array_length(errors) FROM evently_jobs.jobs WHERE id = \(id)") == 1,
                    "the refused cancel recorded nothing")
            let back = try await db.cli("jobs", "retry", "\(id)")
            #expect(back.status == 0, "\(back)")
            #expect(back.stdout == "job \(id) is available\n", "\(back)")
            #expect(try await state(id) == "available")

            // A completed job is not run again.
            let done = try await db.jobs.enqueue(NewJob(kind: "diag.noop")).id
            try await db.execute("UPDATE evently_jobs.jobs SET state = 'completed', attempt = 1, finalized_at = now() WHERE id = \(done)")
            let refused = try await db.cli("jobs", "retry", "\(done)")
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("job \(done) is completed and cannot be retried"), "\(refused)")
            #expect(try await state(done) == "completed")

            for command in ["retry", "cancel"] {
                let missing = try await db.cli("jobs", command, "987654")
                #expect(missing.status == 1, "\(command): \(missing)")
                #expect(missing.stderr.contains("no job with id 987654"), "\(command): \(missing)")
            }
            let negative = try await Self.cli(["jobs", "cancel", "--config", db.config, "--", "-1"], config: nil)
            #expect(negative.status == 1, "\(negative)")
            #expect(negative.stderr.contains("no job with id -1"), "\(negative)")
        }
    }

    // MARK: queues

    @Test(.timeLimit(.minutes(2)))
    func queuesPauseAndResumeShowInStatusAndTheDatabase() async throws {
        try await withFixture { db in
            func paused(_ queue: String) async throws -> Int {
                try await db.number("SELECT paused::int FROM evently_jobs.queues WHERE name = '\(queue)'")
            }
            func statusPaused(_ queue: String) async throws -> Bool? {
                let run = try await db.cli("status", "--json")
                let queues = try #require(try json(run) as? [[String: Any]], "\(run)")
                return queues.first { $0["queue"] as? String == queue }?["paused"] as? Bool
            }
            _ = try await db.jobs.enqueue(NewJob(kind: "diag.noop", options: EnqueueOptions(queue: "mail")))

            let pause = try await db.cli("queues", "pause", "mail")
            #expect(pause.status == 0, "\(pause)")
            #expect(pause.stdout == "queue mail paused\n", "\(pause)")
            #expect(try await paused("mail") == 1)
            #expect(try await statusPaused("mail") == true)
            #expect(try await db.cli("status").row("mail")?.last == "yes")
            let again = try await db.cli("queues", "pause", "mail")
            #expect(again.status == 0, "pausing twice is fine: \(again)")

            let resume = try await db.cli("queues", "resume", "mail")
            #expect(resume.status == 0, "\(resume)")
            #expect(resume.stdout == "queue mail resumed\n", "\(resume)")
            #expect(try await paused("mail") == 0)
            #expect(try await statusPaused("mail") == false)
            #expect(try await db.cli("status").row("mail")?.last == "no")

            // A queue with no jobs can be paused ahead of time (a typo is not caught): it then
            // shows in status with no jobs.
            let ahead = try await db.cli("queues", "pause", "reports")
            #expect(ahead.status == 0, "\(ahead)")
            #expect(try await paused("reports") == 1)
            #expect(try await statusPaused("reports") == true)

            let noName = try await db.cli("queues", "pause")
            #expect(noName.status == 64, "\(noName)")
            #expect(noName.stderr.contains("Missing expected argument '<queue>'"), "\(noName)")
            let noAction = try await db.cli("queues", "stop", "mail")
            #expect(noAction.status == 64, "\(noAction)")

            // No job can be in a queue named "" (the jobs table refuses it): no such pause either.
            let empty = try await db.cli("queues", "pause", "")
            #expect(empty.status == 64 && empty.stderr.contains("the queue name must be"), "\(empty)")
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.queues WHERE name = ''") == 0)
        }
    }

    // MARK: jobs bulk, daemons, status --watch

    @Test(.timeLimit(.minutes(2)))
    func jobsBulkCountsFirstAndActsOnlyWithYes() async throws {
        try await withFixture { db in
            var failed: [Int64] = []
            for index in 0..<5 {
                let id = try await db.jobs.enqueue(NewJob(kind: index < 3 ? "diag.fail" : "diag.noop")).id
                failed.append(id)
            }
            try await db.execute("""
                UPDATE evently_jobs.jobs SET state = 'discarded', attempt = 1, finalized_at = now(),
                       errors = '[{"attempt": 1, "at": "2026-01-01T00:00:00Z", "kind": "error", "error": "smtp down"}]'
                WHERE kind = 'diag.fail'
                """)
            let dry = try await db.cli("jobs", "bulk", "retry", "--state", "discarded", "--kind", "diag.fail")
            #expect(dry.status == 0 && dry.stdout.contains("3 job(s) named; nothing changed"), "\(dry)")
            #expect(try await db.number("SELECT count(*) FROM evently_jobs.jobs WHERE state = 'discarded'") == 3)

            let retried = try await db.cli("jobs", "bulk", "retry", "--state", "discarded", "--error", "smtp down", "--yes")
            #expect(retried.status == 0 && retried.stdout.contains("retry: 3 of 3 matching job(s) changed"), "\(retried)")
            #expect(try await db.number("SELECT count(*) FROM evently_jobs.jobs WHERE state = 'available'") == 5)

            let cancelled = try await db.cli("jobs", "bulk", "cancel", "--ids", "\(failed[3]),\(failed[4])", "--yes")
            #expect(cancelled.status == 0 && cancelled.stdout.contains("cancel: 2 of 2"), "\(cancelled)")
            let deleted = try await db.cli("jobs", "bulk", "delete", "--state", "cancelled", "--yes")
            #expect(deleted.status == 0 && deleted.stdout.contains("delete: 2 of 2"), "\(deleted)")
            #expect(try await db.number("SELECT count(*) FROM evently_jobs.jobs") == 3)

            for (arguments, message) in [
                (["jobs", "bulk", "retry"], "name the jobs"),
                (["jobs", "bulk", "restart", "--kind", "x"], "the action must be retry, cancel or delete"),
                (["jobs", "bulk", "retry", "--ids", "1", "--kind", "x"], "give --ids or filter options, not both"),
                (["jobs", "bulk", "retry", "--ids", "1,x"], "--ids must be positive job ids"),
                (["jobs", "bulk", "cancel", "--state", "done"], "--state takes"),
            ] {
                let bad = try await db.cli(arguments)
                #expect(bad.status == 64 && bad.stderr.contains(message), "\(arguments): \(bad)")
            }
            #expect(try await db.number("SELECT count(*) FROM evently_jobs.jobs") == 3, "bad input changed nothing")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func daemonsListsTheLiveOnesWithRunningJobs() async throws {
        try await withFixture { db in
            let empty = try await db.cli("daemons")
            #expect(empty.status == 0 && empty.stdout.contains("(no live daemon)"), "\(empty)")
            try await db.execute("""
                INSERT INTO evently_jobs.daemons (name, host, pid, version, queues, kinds, started_at, heartbeat_at, expires_at)
                VALUES ('cli-test:1', 'cli-host', 4242, '9.9.9', '{"default": 4}', ARRAY['diag.noop'], now(), now(), now() + interval '1 hour'),
                       ('gone:2', 'old-host', 7, '0.1', '{}', ARRAY[]::text[], now() - interval '3 minutes',
                        now() - interval '2 minutes', now() - interval '1 minute')
                """)
            let id = try await db.jobs.enqueue(NewJob(kind: "diag.noop")).id
            try await db.execute("""
                UPDATE evently_jobs.jobs SET state = 'running', attempt = 1, attempted_by = 'cli-test:1',
                       attempted_at = now(), lease_expires_at = now() + interval '1 minute' WHERE id = \(id)
                """)
            let table = try await db.cli("daemons")
            #expect(table.status == 0, "\(table)")
            let row = try #require(table.row("cli-test:1"), "\(table)")
            #expect(row.contains("cli-host") && row.contains("4242") && row.contains("9.9.9") && row.contains("default(4)"), "\(row)")
            #expect(row.last == "1", "one job running: \(row)")
            #expect(table.row("gone:2") == nil, "an expired heartbeat is not live: \(table)")
            let json = try await db.cli("daemons", "--json")
            let listed = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], "\(json)")
            #expect(listed.count == 1 && listed.first?["running"] as? Int == 1 && listed.first?["name"] as? String == "cli-test:1")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func statusWatchRedrawsUntilStopped() async throws {
        try await withFixture { db in
            _ = try await db.jobs.enqueue(NewJob(kind: "diag.noop"))
            let output = db.directory.appendingPathComponent("watch.out").path
            let child = try ChildProcess(["/usr/bin/env", "-u", "EVENTLY_DATABASE_URL", DaemonProcess.executable,
                                          "status", "--watch", "300ms", "--config", db.config], output: .file(output))
            try await eventually(timeout: .seconds(20), "three frames") {
                ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").components(separatedBy: "Ctrl-C to stop").count > 3
            }
            child.signal(SIGINT)
            #expect(await child.waitForExit(timeout: .seconds(10)) != nil, "SIGINT stops the watch")
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            #expect(text.contains("\u{1B}[2J") && text.contains("default"), "\(text.prefix(400))")
            let bad = try await db.cli("status", "--watch", "0s")
            #expect(bad.status == 64 && bad.stderr.contains("--watch takes an interval"), "\(bad)")
        }
    }

    // MARK: schedules

    @Test(.timeLimit(.minutes(2)))
    func schedulesListsTheConfiguredSchedulesWithNextFiresAndLastTick() async throws {
        let schedules = """
            [schedule.nightly]
            cron = "30 2 * * *"
            kind = "diag.noop"
            queue = "maintenance"
            [schedule.often]
            cron = "*/5 * * * *"
            kind = "diag.sleep"
            args = '{"ms": 10}'
            time_zone = "Europe/Berlin"
            enabled = false

            """
        try await withFixture(extraConfig: schedules) { db in
            try await db.execute("""
                INSERT INTO evently_jobs.schedule_ticks (schedule, tick) VALUES
                  ('nightly', '2026-01-01T02:30:00Z'), ('nightly', '2026-01-02T02:30:00Z')
                """)
            let table = try await db.cli("schedules")
            #expect(table.status == 0, "\(table)")
            #expect(table.row("schedule") == ["schedule", "cron", "zone", "kind", "enabled", "next", "last", "tick"], "\(table)")
            #expect(table.lines.count == 3, "\(table)")
            let nightly = try #require(table.row("nightly"), "\(table)")
            // name, the cron's 5 fields, zone, kind, enabled, 3 fire times, last tick
            #expect(nightly.count == 13, "\(table)")
            #expect(Array(nightly[1...5]) == ["30", "2", "*", "*", "*"], "\(table)")
            #expect(Array(nightly[7...8]) == ["diag.noop", "yes"], "\(table)")
            #expect(nightly[9...11].allSatisfy { $0.hasSuffix("T02:30:00Z") }, "\(table)")
            #expect(nightly.last == "2026-01-02T02:30:00Z", "the latest tick: \(table)")
            let often = try #require(table.row("often"), "\(table)")
            #expect(often.count == 13, "\(table)")
            #expect(Array(often.prefix(9)) == ["often", "*/5", "*", "*", "*", "*", "Europe/Berlin", "diag.sleep", "no"], "\(table)")
            #expect(often.last == "-", "never fired: \(table)")

            let run = try await db.cli("schedules", "--json", "--next", "2")
            #expect(run.status == 0, "\(run)")
            let rows = try #require(try json(run) as? [[String: Any]], "\(run)")
            #expect(rows.map { $0["name"] as? String } == ["nightly", "often"], "\(run)")
            try #require(rows.count == 2)
            let formatter = ISO8601DateFormatter()
            let first = rows[0], second = rows[1]
            #expect(first["cron"] as? String == "30 2 * * *")
            #expect(first["kind"] as? String == "diag.noop")
            #expect(first["queue"] as? String == "maintenance")
            #expect(first["enabled"] as? Bool == true)
            #expect(first["last_tick"] as? String == "2026-01-02T02:30:00Z")
            let fires = try #require((first["next_fire_times"] as? [String])?.compactMap(formatter.date(from:)), "\(run)")
            try #require(fires.count == 2, "\(run)")
            #expect(fires.allSatisfy { $0 > Date() }, "\(run)")
            #expect(fires[1].timeIntervalSince(fires[0]) == 86_400, "one a day: \(run)")
            #expect(second["time_zone"] as? String == "Europe/Berlin")
            #expect(second["enabled"] as? Bool == false)
            #expect(second["queue"] as? String == "default")
            #expect(second["last_tick"] == nil, "never fired: \(run)")
            let often5 = try #require((second["next_fire_times"] as? [String])?.compactMap(formatter.date(from:)), "\(run)")
            try #require(often5.count == 2, "\(run)")
            #expect(often5[1].timeIntervalSince(often5[0]) == 300, "every five minutes: \(run)")

            // Without schedules: the header alone.
            let section = try await Self.databaseSection(db.database)
            let bare = try db.writeConfig("bare.conf", section)
            let none = try await Self.cli(["schedules"], config: bare)
            #expect(none.status == 0, "\(none)")
            #expect(none.lines.count == 1 && none.lines.first?.hasPrefix("schedule") == true, "\(none)")
        }
    }

    // MARK: --config and the environment

    @Test(.timeLimit(.minutes(2)))
    func aMissingConfigFileIsNamedAndNothingRuns() async throws {
        let commands: [[String]] = [["migrate"], ["enqueue", "diag.noop"], ["status"], ["status", "--json"], ["jobs", "list"],
                                    ["jobs", "show", "1"], ["jobs", "retry", "1"], ["jobs", "cancel", "1"],
                                    ["queues", "pause", "mail"], ["schedules"]]
        for command in commands {
            let run = try await Self.cli(command, config: "/nonexistent.conf")
            #expect(run.status == 1, "\(command): \(run)")
            #expect(run.stderr.contains("/nonexistent.conf: configuration file not found (pass --config PATH"), "\(command): \(run)")
            #expect(run.stdout.isEmpty, "\(command): \(run)")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aBadConfigValueIsNamedWithFileLineAndKeyAndNothingIsWritten() async throws {
        try await withFixture { db in
            let section = try await Self.databaseSection(db.database)
            // (file text, what standard error must say); each file names the fixture's database.
            let cases: [(String, String)] = [
                (section.replacingOccurrences(of: "pool_size = 2", with: "pool_size = 1"), "bad.conf:3: database.pool_size: must be between 2 and 500, found 1"),
                (section + "bogus_key = 1\n", "bad.conf:4: database.bogus_key: unknown key"),
                (section + "[queue]\nlease = \"2s\"\n", "bad.conf:5: queue.lease: expected a duration such as 500ms, 30s, 5m, 2h or 7d, found text \"2s\""),
                (section + "[schedule.x]\ncron = \"99 * * * *\"\nkind = \"diag.noop\"\n", "bad.conf:5: schedule.x.cron: schedule 'x': minute: 99 is out of range 0-59"),
                ("[database]\nurl = \"mysql://localhost/x\"\n", "bad.conf:2: database.url: must be a postgres:// URL"),
            ]
            for (text, message) in cases {
                let path = try db.writeConfig("bad.conf", text)
                for command in [["enqueue", "diag.noop"], ["migrate"], ["queues", "pause", "mail"]] {
                    let run = try await Self.cli(command, config: path)
                    #expect(run.status == 1, "\(command) with\n\(text)\n\(run)")
                    #expect(run.stderr.contains(message), "\(command) with\n\(text)\n\(run)")
                    #expect(run.stdout.isEmpty, "\(run)")
                }
            }
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.jobs") == 0, "nothing enqueued")
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.queues") == 0, "nothing paused")
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func eventlyDatabaseURLOverridesTheFile() async throws {
        try await withFixture { db in
            let other = try await TestDatabase.makeDatabase(prefix: "cli_env")
            let cluster = try await TestDatabase.cluster()
            let url = "postgres://\(cluster.username)@localhost/\(other.database!)?host=\(cluster.socketDirectory.path)"

            // The variable wins over the file's URL: the job lands in the other database, which
            // the command migrates first.
            let run = try await db.cli("enqueue", "diag.noop", "--queue", "elsewhere", environment: ["EVENTLY_DATABASE_URL": url])
            #expect(run.status == 0, "\(run)")
            let id = try #require(Int64(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(run)")
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.jobs") == 0, "not in the file's database")
            try await TestDatabase.withClient(configuration: other) { client in
                let rows = try await client.query("SELECT queue FROM evently_jobs.jobs WHERE id = \(id)", logger: logger)
                var queues: [String] = []
                for try await queue in rows.decode(String.self) { queues.append(queue) }
                #expect(queues == ["elsewhere"])
            }
            let status = try await db.cli("status", environment: ["EVENTLY_DATABASE_URL": url])
            #expect(status.row("elsewhere").map { Array($0.prefix(2)) } == ["elsewhere", "1"], "\(status)")

            // An empty variable is ignored: the file's database.
            let empty = try await db.cli("enqueue", "diag.noop", environment: ["EVENTLY_DATABASE_URL": ""])
            #expect(empty.status == 0, "\(empty)")
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.jobs") == 1)

            // A bad one is named, and nothing is done.
            let bad = try await db.cli("enqueue", "diag.noop", environment: ["EVENTLY_DATABASE_URL": "mysql://localhost/x"])
            #expect(bad.status == 1, "\(bad)")
            #expect(bad.stderr.contains("environment: EVENTLY_DATABASE_URL: must be a postgres:// URL"), "\(bad)")
            #expect(try await db.number("SELECT count(*)::bigint FROM evently_jobs.jobs") == 1)
        }
    }

    /// A database that does not exist (a typo in the URL) should fail at once with the server's
    /// message. (The pool alone retried for about a minute behind its circuit breaker and then
    /// printed `ConnectionPoolError(... connectionCreationCircuitBreakerTripped)`.)
    @Test(.timeLimit(.minutes(2)))
    func aMissingDatabaseFailsFastNamingIt() async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("jobs.conf").path
        try (try await Self.databaseSection("cli_no_such_database") + "connect_timeout = 2s\n").write(toFile: config, atomically: true, encoding: .utf8)
        let output = directory.appendingPathComponent("out").path
        let child = try ChildProcess(["/usr/bin/env", "-u", "EVENTLY_DATABASE_URL", DaemonProcess.executable, "status", "--config", config],
                                     output: .file(output))
        let status = await child.waitForExit(timeout: .seconds(15))
        if status == nil {
            child.signal(SIGKILL)
            child.waitForExit()
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status != nil, "still running after 15 s: \(text)")
        #expect(status.map { $0 != 0 } ?? false)
        #expect(text.contains("cannot reach the database") && text.contains("cli_no_such_database"), "\(text)")
    }
}
