import BookingCore
import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing
@testable import Workers

/// The sending mark on a notification row: one provider session per notification at a time,
/// fenced by the job's attempt, and outcomes written only by the attempt whose mark it is.
@Suite(.timeLimit(.minutes(5))) struct SendingMarkTests {
    static let logger = DeliveryFixture.logger

    @Test(.timeLimit(.minutes(2)))
    func anotherAttemptsMarkHoldsForItsWindowAndAStaleAttemptsOutcomeMatchesNothing() async throws {
        try await DeliveryFixture.with { f in
            let id = try await f.emailRow(for: try await f.user())
            let store = NotificationStore(logger: Self.logger)
            let window = Duration.seconds(2)
            func mark(_ token: String) async throws -> NotificationStore.SendingMark {
                try await f.tx { try await store.markSending(id: id, by: token, window: window, on: $0) }
            }

            #expect(try await mark("7:1") == .taken)
            #expect(try await mark("7:1") == .taken, "an attempt's own mark is its own")
            guard case .heldElsewhere(let holder, let remaining) = try await mark("7:2") else {
                Issue.record("a second attempt took a mark inside its window")
                return
            }
            #expect(holder == "7:1")
            #expect(remaining > .zero && remaining <= window, "\(remaining)")
            #expect(try await f.sendingMark(id).by == "7:1")

            try await Task.sleep(for: remaining + .milliseconds(200))
            #expect(try await mark("7:2") == .taken, "past the window the mark is taken over")

            // The first attempt, still running somewhere, records its outcome late: nothing moves.
            #expect(try await f.tx { try await store.markSent(id: id, providerMessageID: "late", sendingBy: "7:1", now: Date(), on: $0) } == false)
            #expect(try await f.tx { try await store.markFailed(id: id, error: "late", sendingBy: "7:1", now: Date(), on: $0) } == false)
            #expect(try await f.tx { try await store.releaseSending(id: id, sendingBy: "7:1", error: "late", on: $0) } == false)
            #expect(try await f.tx { try await store.markSkipped(id: id, reason: "late", sendingBy: "7:1", now: Date(), on: $0) } == false)
            let untouched = try await f.notification(id)
            #expect(untouched.status == .queued)
            #expect(untouched.providerMessageID == nil && untouched.lastError == nil)
            #expect(try await f.sendingMark(id).by == "7:2")

            #expect(try await f.tx { try await store.markSent(id: id, providerMessageID: "<m@x>", sendingBy: "7:2", now: Date(), on: $0) })
            let sent = try await f.notification(id)
            #expect(sent.status == .sent && sent.providerMessageID == "<m@x>")
            let cleared = try await f.sendingMark(id)
            #expect(cleared.by == nil && cleared.since == nil)
            #expect(try await mark("7:3") == .settled(.sent))
            #expect(try await f.tx { try await store.markSending(id: UUID(), by: "7:3", window: window, on: $0) } == .missing)
        }
    }

    /// The messages of one session are recorded in one statement (`SentMarks`); each row moves
    /// only under its own attempt's mark, whatever the others in the statement are.
    @Test(.timeLimit(.minutes(2)))
    func marksRecordedTogetherEachNeedTheirOwnAttemptsMark() async throws {
        try await DeliveryFixture.with { f in
            let user = try await f.user()
            let store = NotificationStore(logger: Self.logger)
            var ids: [UUID] = []
            for index in 0..<4 {
                let id = try await f.emailRow(for: user)
                #expect(try await f.tx { try await store.markSending(id: id, by: "9:\(index)", window: .seconds(60), on: $0) } == .taken)
                ids.append(id)
            }
            let sentMarks = SentMarks(client: f.client, logger: Self.logger)
            let at = Date(timeIntervalSince1970: 1_900_000_000)
            // Submitted at once, as a session's messages end: the 2nd carries a stale token.
            let recorded = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
                for (index, id) in ids.enumerated() {
                    let mark = SentMark(id: id, providerMessageID: index == 3 ? nil : "<\(index)@x>",
                                        sendingBy: index == 1 ? "8:1" : "9:\(index)", at: at)
                    group.addTask { (index, try await sentMarks.record(mark)) }
                }
                var results: [Int: Bool] = [:]
                for try await (index, ok) in group { results[index] = ok }
                return results
            }
            #expect(recorded == [0: true, 1: false, 2: true, 3: true])
            for (index, id) in ids.enumerated() {
                let row = try await f.notification(id)
                if index == 1 {
                    #expect(row.status == .queued && row.providerMessageID == nil)
                    #expect(try await f.sendingMark(id).by == "9:1", "another attempt's mark stays")
                } else {
                    #expect(row.status == .sent && row.sentAt == at)
                    #expect(row.providerMessageID == (index == 3 ? nil : "<\(index)@x>"))
                    #expect(try await f.sendingMark(id).by == nil)
                }
            }
        }
    }

    /// A failure that leaves nothing to wait for (the session is over) clears the mark, so the
    /// retry does not wait out the window.
    @Test(.timeLimit(.minutes(2)))
    func aFailedSessionClearsItsMark() async throws {
        try await DeliveryFixture.with { f in
            let id = try await f.emailRow(for: try await f.user())
            let store = NotificationStore(logger: Self.logger)
            #expect(try await f.tx { try await store.markSending(id: id, by: "8:1", window: .seconds(60), on: $0) } == .taken)
            #expect(try await f.tx { try await store.releaseSending(id: id, sendingBy: "8:1", error: "451 later", on: $0) })
            #expect(try await f.sendingMark(id).by == nil)
            #expect(try await f.notification(id).lastError == "451 later")
            #expect(try await f.tx { try await store.markSending(id: id, by: "8:2", window: .seconds(60), on: $0) } == .taken)
            #expect(try await f.tx { try await store.markFailed(id: id, error: "550 gone", sendingBy: "8:2", now: Date(), on: $0) })
            let failed = try await f.notification(id)
            #expect(failed.status == .failed && failed.lastError == "550 gone")
            #expect(try await f.sendingMark(id).by == nil)
        }
    }

    /// The ledger takes the mark only while its attempt owns the job: a stale attempt is refused
    /// (and so is one whose lease has lapsed before any rescue ran), and the attempt that now
    /// owns the job snoozes, spending no attempt, while the stale one's mark holds.
    @Test(.timeLimit(.minutes(2)))
    func theLedgerMarksOnlyForTheOwningAttemptAndSnoozesWhileAnotherMarkHolds() async throws {
        try await DeliveryFixture.with { f in
            let id = try await f.emailRow(for: try await f.user())
            let job = try await JobClient(client: f.client, logger: Self.logger)
                .enqueue(EmailSendWorker.Payload(notificationID: id)).id
            func own(attempt: Int, leaseSeconds: Int) async throws {
                try await f.tx {
                    _ = try await $0.query("""
                        UPDATE evently_jobs.jobs SET state = 'running', attempt = \(attempt), attempted_at = now(),
                            attempted_by = 'test', lease_expires_at = now() + \(leaseSeconds) * interval '1 second'
                        WHERE id = \(job)
                        """, logger: Self.logger)
                }
            }
            func context(_ attempt: Int) -> JobContext {
                JobContext(jobID: job, kind: EmailSendWorker.Payload.kind, queue: "default", attempt: attempt,
                           maxAttempts: 25, logger: Self.logger)
            }
            let window = SendingWindow(session: .seconds(1))
            let ledger = DeliveryLedger(client: f.client, logger: Self.logger, window: window)

            try await own(attempt: 1, leaseSeconds: 60)
            let (first, target) = try #require(try await ledger.begin(id, context: context(1)))
            #expect(first.token == "\(job):1")
            #expect(target.notification.id == id, "the row to send comes with the mark")
            #expect(first.holdsUntil - ContinuousClock.now <= window.total)
            #expect(try await f.sendingMark(id).by == "\(job):1")

            // Rescued and claimed again: attempt 1 may no longer mark anything.
            try await own(attempt: 2, leaseSeconds: 60)
            await #expect(throws: JobNoLongerOwned.self) { _ = try await ledger.begin(id, context: context(1)) }
            do {
                _ = try await ledger.begin(id, context: context(2))
                Issue.record("attempt 2 took the mark while attempt 1's window holds")
            } catch let control as JobControl {
                guard case .snooze(let wait) = control else { throw control }
                #expect(wait > .zero && wait <= max(.seconds(1), window.total / 20), "\(wait)")
            }
            #expect(try await f.sendingMark(id).by == "\(job):1")

            // Attempt 1's session ends inside its window: its sent mark counts, and attempt 2
            // finds nothing to send.
            try await ledger.sent(first, providerMessageID: "<first@x>")
            #expect(try await f.notification(id).status == .sent)
            #expect(try await ledger.begin(id, context: context(2)) == nil, "nothing left to send")

            // A lease that lapsed by the database's clock is lost, rescued or not.
            let other = try await f.emailRow(for: try await f.user())
            try await own(attempt: 3, leaseSeconds: -1)
            await #expect(throws: JobNoLongerOwned.self) { _ = try await ledger.begin(other, context: context(3)) }
            #expect(try await f.sendingMark(other).by == nil)
        }
    }

    /// The one-statement mark (`markSendingIfOwned`): taken and read while the attempt owns its
    /// job; nothing written otherwise. A rescue holding the job's row when the statement starts
    /// makes it mark nothing at once (it skips a held row rather than wait, holding others); the
    /// attempt's ledger then confirms its ownership by the separate steps, which wait for the
    /// rescue, and once it commits learns the job is no longer its attempt's.
    @Test(.timeLimit(.minutes(2)))
    func theOneStatementMarkIsFencedByTheJobsRow() async throws {
        try await DeliveryFixture.with { f in
            let store = NotificationStore(logger: Self.logger)
            let id = try await f.emailRow(for: try await f.user())
            let job = try await JobClient(client: f.client, logger: Self.logger)
                .enqueue(EmailSendWorker.Payload(notificationID: id)).id
            let setRunning: (Int) -> PostgresQuery = { attempt in """
                UPDATE evently_jobs.jobs SET state = 'running', attempt = \(attempt), attempted_at = now(),
                    attempted_by = 'test', lease_expires_at = now() + interval '60 seconds'
                WHERE id = \(job)
                """ }
            func markIfOwned(_ attempt: Int) async throws -> DeliveryTarget? {
                try await f.client.withOpenConnection {
                    try await store.markSendingIfOwned(id: id, by: "\(job):\(attempt)", window: .seconds(60), jobID: job,
                                                       attempt: attempt, on: $0)
                }
            }

            #expect(try await markIfOwned(1) == nil, "the job is not running: not owned")
            #expect(try await f.sendingMark(id).by == nil)
            try await f.tx { _ = try await $0.query(setRunning(1), logger: Self.logger) }
            let target = try #require(try await markIfOwned(1))
            #expect(target.notification.id == id && target.email.contains("@"))
            #expect(try await f.sendingMark(id).by == "\(job):1")
            #expect(try await markIfOwned(2) == nil, "attempt 2 does not own the job")
            #expect(try await f.sendingMark(id).by == "\(job):1")

            // A rescue-like transaction holds the job's row, then hands the job to attempt 2.
            _ = try await f.tx { try await store.releaseSending(id: id, sendingBy: "\(job):1", error: "", on: $0) }
            let window = SendingWindow(session: .seconds(1))
            let ledger = DeliveryLedger(client: f.client, logger: Self.logger, window: window,
                                        sendingMarks: SendingMarks(client: f.client, window: window.total, logger: Self.logger))
            let attempt1 = JobContext(jobID: job, kind: EmailSendWorker.Payload.kind, queue: "default", attempt: 1,
                                      maxAttempts: 25, logger: Self.logger)
            let stale = try await f.client.withOpenConnection { rescuer in
                try await rescuer.transaction(logger: Self.logger) { rescuer in
                    var rescuerPID: Int32 = 0
                    for try await pid in try await rescuer.query("SELECT pg_backend_pid()", logger: Self.logger).decode(Int32.self) {
                        rescuerPID = pid
                    }
                    _ = try await rescuer.query("SELECT 1 FROM evently_jobs.jobs WHERE id = \(job) FOR UPDATE", logger: Self.logger)
                    #expect(try await markIfOwned(1) == nil, "a held job row is skipped, not waited for")
                    #expect(try await f.sendingMark(id).by == nil)
                    let stale = Task { try await ledger.begin(id, context: attempt1) }
                    // The ledger's separate steps wait on this rescuer's lock (other suites share the cluster).
                    try await f.waitUntil("the ownership check to wait for the job's row", timeout: .seconds(20)) {
                        try await f.tx { connection in
                            let rows = try await connection.query("""
                                SELECT count(*)::int FROM pg_stat_activity
                                WHERE pg_blocking_pids(pid) @> ARRAY[\(rescuerPID)]::int[] AND query LIKE '%evently_jobs.jobs%'
                                """, logger: Self.logger)
                            for try await waiting in rows.decode(Int.self) { return waiting }
                            return 0
                        } == 1
                    }
                    _ = try await rescuer.query(setRunning(2), logger: Self.logger)
                    return stale
                }
            }
            await #expect(throws: JobNoLongerOwned.self, "the rescue committed first: attempt 1 owns nothing") {
                _ = try await stale.value
            }
            #expect(try await f.sendingMark(id).by == nil)
            #expect(try await markIfOwned(2) != nil)
            #expect(try await f.sendingMark(id).by == "\(job):2")
        }
    }

    /// Marks taken together (`markSendingIfOwned(_:window:on:)`, the statement `SendingMarks`
    /// runs): in one statement, each request is answered for itself. Attempts that own their jobs
    /// get their own rows; an attempt whose lease ran out, an attempt of a job not running, and
    /// a row another attempt's mark holds are not answered, and nothing is written for them.
    @Test(.timeLimit(.minutes(2)))
    func marksTakenTogetherAreEachFencedByTheirOwnJob() async throws {
        try await DeliveryFixture.with { f in
            let store = NotificationStore(logger: Self.logger)
            let requests = try await Self.attemptsRunning(6, f)
            let (expired, notRunning, heldElsewhere) = (requests[1], requests[3], requests[4])
            try await f.tx { _ = try await $0.query("UPDATE evently_jobs.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(expired.jobID)",
                                                    logger: Self.logger) }
            try await f.tx { _ = try await $0.query("UPDATE evently_jobs.jobs SET state = 'retryable', lease_expires_at = NULL WHERE id = \(notRunning.jobID)",
                                                    logger: Self.logger) }
            #expect(try await f.tx { try await store.markSending(id: heldElsewhere.id, by: "99:1", window: .seconds(60), on: $0) } == .taken)

            let taken = try await f.client.withOpenConnection {
                try await store.markSendingIfOwned(requests.reversed(), window: .seconds(60), on: $0)
            }
            let owners = [requests[0], requests[2], requests[5]]
            #expect(Set(taken.keys) == Set(owners.map(\.token)))
            for request in owners {
                #expect(taken[request.token]?.notification.id == request.id, "each attempt gets its own row")
                #expect(taken[request.token]?.email.contains("@") == true)
                #expect(try await f.sendingMark(request.id).by == request.token)
            }
            #expect(try await f.sendingMark(expired.id).by == nil, "a lapsed lease marks nothing")
            #expect(try await f.sendingMark(notRunning.id).by == nil, "a job not running marks nothing")
            #expect(try await f.sendingMark(heldElsewhere.id).by == "99:1", "another attempt's mark stays")
        }
    }

    /// Marks taken together never wait for a job row another transaction holds (a lease
    /// renewal's multi-row update, which locks in its own order, could otherwise deadlock with
    /// them): the held job's attempt is not answered and nothing is written for it, the others
    /// are marked, and once the row is free its mark is taken.
    @Test(.timeLimit(.minutes(2)))
    func marksTakenTogetherSkipAJobRowAnotherTransactionHolds() async throws {
        try await DeliveryFixture.with { f in
            let store = NotificationStore(logger: Self.logger)
            let requests = try await Self.attemptsRunning(3, f)
            let held = requests[1]
            let taken = try await f.client.withConnection { other in
                _ = try await other.query("BEGIN", logger: Self.logger)
                _ = try await other.query("SELECT 1 FROM evently_jobs.jobs WHERE id = \(held.jobID) FOR NO KEY UPDATE", logger: Self.logger)
                let taken = try await f.client.withOpenConnection {
                    try await store.markSendingIfOwned(requests, window: .seconds(60), on: $0)
                }
                _ = try await other.query("COMMIT", logger: Self.logger)
                return taken
            }
            #expect(Set(taken.keys) == [requests[0].token, requests[2].token])
            #expect(try await f.sendingMark(held.id).by == nil)
            let later = try await f.client.withOpenConnection { try await store.markSendingIfOwned([held], window: .seconds(60), on: $0) }
            #expect(later[held.token]?.notification.id == held.id, "once the row is free the mark is taken")
        }
    }

    /// Many attempts of one worker start at once: their marks go through `SendingMarks` in
    /// groups, and every attempt gets its own message's row, none another's, none twice.
    @Test(.timeLimit(.minutes(2)))
    func manyAttemptsStartingAtOnceEachGetTheirOwnMark() async throws {
        try await DeliveryFixture.with { f in
            let requests = try await Self.attemptsRunning(120, f)
            let marks = SendingMarks(client: f.client, window: .seconds(60), logger: Self.logger)
            let answers = try await withThrowingTaskGroup(of: (SendingMarkRequest, UUID?).self) { group in
                for request in requests {
                    group.addTask { (request, try await marks.take(request)?.notification.id) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.count == requests.count)
            for (request, id) in answers { #expect(id == request.id, "attempt \(request.token) got its own row") }
            let marked = try await f.tx { connection in
                try await connection.query("""
                    SELECT count(*)::int FROM evently.notifications AS n
                    JOIN unnest(\(requests.map(\.id))::uuid[], \(requests.map(\.token))::text[]) AS r(id, token)
                      ON n.id = r.id AND n.sending_by = r.token
                    """, logger: Self.logger).collect().first!.decode(Int.self)
            }
            #expect(marked == requests.count)
        }
    }

    /// The marks' statement is prepared: even its generic plan looks the jobs and the rows up by
    /// id, beside 20,000 running jobs and 20,000 queued notifications, and locks the jobs before
    /// it writes a mark.
    @Test(.timeLimit(.minutes(2)))
    func theMarksGenericPlanLooksTheJobsAndRowsUpById() async throws {
        try await DeliveryFixture.with { f in
            let requests = try await Self.attemptsRunning(3, f)
            let user = try await f.user()
            try await f.tx { _ = try await $0.query("""
                INSERT INTO evently_jobs.jobs (kind, queue, state, attempt, attempted_at, lease_expires_at)
                SELECT 'email.send', 'notifications', 'running', 1, now(), now() + interval '1 hour' FROM generate_series(1, 20000)
                """, logger: Self.logger) }
            try await f.tx { _ = try await $0.query("""
                INSERT INTO evently.notifications (user_id, type, template, content, channels)
                SELECT \(user.id), 'email', 'booking_confirmed', '{}', '["email"]' FROM generate_series(1, 20000)
                """, logger: Self.logger) }
            let store = NotificationStore(logger: Self.logger)
            try await f.client.withConnection { connection in
                _ = try await connection.query("ANALYZE evently_jobs.jobs_unfinished", logger: Self.logger)
                _ = try await connection.query("ANALYZE evently.notifications", logger: Self.logger)
                _ = try await connection.query("SET plan_cache_mode = force_generic_plan", logger: Self.logger)
                let taken = try await store.markSendingIfOwned(requests, window: .seconds(60), on: connection)
                #expect(taken.count == 3)
                var plan: [String] = []
                let rows = try await connection.query(PostgresQuery(unsafeSQL: """
                    EXPLAIN EXECUTE evently_take_sending_marks_if_owned('{\(UUID())}', '{1:1}', 60000, '{1}', '{1}')
                    """), logger: Self.logger)
                for try await line in rows.decode(String.self) { plan.append(line) }
                let text = plan.joined(separator: "\n")
                #expect(text.contains("LockRows"), "the jobs are locked:\n\(text)")
                #expect(!text.contains("Seq Scan on jobs_unfinished") && !text.contains("Seq Scan on notifications"),
                        "no job or row read but those asked for:\n\(text)")
            }
        }
    }

    /// `count` queued emails of one user, each with its `email.send` job running its first
    /// attempt: the mark each attempt would ask for.
    static func attemptsRunning(_ count: Int, _ f: DeliveryFixture) async throws -> [SendingMarkRequest] {
        let user = try await f.user()
        let jobs = JobClient(client: f.client, logger: Self.logger)
        var requests: [SendingMarkRequest] = []
        for _ in 0..<count {
            let id = try await f.emailRow(for: user)
            let job = try await jobs.enqueue(EmailSendWorker.Payload(notificationID: id)).id
            requests.append(SendingMarkRequest(id: id, token: "\(job):1", jobID: job, attempt: 1))
        }
        let running = requests.map(\.jobID)
        try await f.tx { _ = try await $0.query("""
            UPDATE evently_jobs.jobs SET state = 'running', attempt = 1, attempted_at = now(),
                attempted_by = 'test', lease_expires_at = now() + interval '60 seconds'
            WHERE id = ANY(\(running))
            """, logger: Self.logger) }
        return requests
    }

    /// The SMTP server takes longer to answer the end of DATA than the attempt's lease lasts,
    /// and the daemon running it is cut off from the database meanwhile: it stops the attempt
    /// by its own clock (libesmtp's session goes on regardless), another daemon rescues the job
    /// and runs attempt 2, which must not send while attempt 1's session may still be going.
    /// Attempt 1's session ends with the message accepted and, once the database answers again,
    /// its sent mark lands; attempt 2 finds the row sent. One message.
    @Test(.timeLimit(.minutes(4)))
    func anSMTPServerThatStallsPastTheLeaseGetsTheMessageOnce() async throws {
        let stall = Duration.seconds(5)
        let smtp = try await SMTPTestServer.start(dataReplyDelay: stall)
        defer { smtp.stop() }
        var direct = try await TestDatabase.makeDatabase(prefix: "stall")
        direct.options.maximumConnections = 12
        let cluster = try await TestDatabase.cluster()
        let proxy = try await FaultProxy.start(toUnixSocket: cluster.socketPath)
        var throughProxy = proxy.clientConfiguration(to: direct)
        throughProxy.options.maximumConnections = 6
        throughProxy.options.connectTimeout = .seconds(2)

        var delivery = DeliveryFixture.smtp(smtp)
        delivery.smtp.timeout = .seconds(8)   // longer than the stall: the session waits it out
        func daemon(_ client: PostgresClient, name: String,
                    listen: PostgresConnection.Configuration? = nil) throws -> JobDaemon {
            var registry = WorkerRegistry()
            try registry.register(EmailSendWorker(client: client, settings: delivery.smtp))
            var configuration = JobDaemon.Configuration()
            configuration.queues = ["default": 2]
            configuration.lease = JobDaemon.Configuration.minimumLease
            configuration.pollInterval = .milliseconds(100)
            configuration.rescueInterval = .milliseconds(200)
            configuration.retryPolicy = RetryPolicy(base: .milliseconds(200), cap: .seconds(2), jitter: 0)
            configuration.workerName = name
            return JobDaemon(client: client, registry: registry, configuration: configuration, logger: Self.logger,
                             listenConnection: listen)
        }

        try await TestDatabase.withClient(configuration: direct) { client in
            try await SchemaMigrator(migrations: DeliveryFixture.migrations, logger: Self.logger).migrate(client)
            let f = DeliveryFixture(client: client)
            let ann = try await f.user("ann")
            let id = try await f.emailRow(for: ann, subject: "Stalled once")
            try await TestDatabase.withClient(configuration: throughProxy) { cutOffClient in
                let cutOff = try daemon(cutOffClient, name: "cut-off",
                                        listen: PostgresConnection.Configuration(sameServerAs: throughProxy, tls: .disable))
                try await DeliveryFixture.running(cutOff) {
                    let job = try await JobClient(client: client, logger: Self.logger)
                        .enqueue(EmailSendWorker.Payload(notificationID: id)).id
                    // (On a loaded machine the first claim's 2 s lease can lapse before its mark: then
                    // a later attempt of the cut-off daemon takes the mark, and the story is the same.)
                    // (A CI run with every suite at once needed more than the default 30 s.)
                    try await f.waitUntil("the cut-off daemon to mark the row", timeout: .seconds(90)) {
                        try await f.sendingMark(id).by?.hasPrefix("\(job):") == true
                    }
                    // Cut off only once its session reached the end of DATA and waits for the reply: cut
                    // earlier, the answer to the mark's COMMIT could be held and no session start.
                    // (30 s: the Python server and the mailer's thread can wait long for a core in CI.)
                    try await smtp.waitForEndsOfData(count: 1, timeout: .seconds(30))
                    proxy.blackHole()
                    let healthy = try daemon(client, name: "healthy")
                    try await DeliveryFixture.running(healthy) {
                        try await f.waitUntil("the job to be rescued", timeout: .seconds(10)) {
                            try await f.jobs(EmailSendWorker.Payload.kind).first?.errors.contains("rescued") ?? false
                        }
                        try await smtp.waitForMessages(count: 1, timeout: stall + .seconds(10))
                        // The database answers again shortly after the server accepted the message.
                        try await Task.sleep(for: .milliseconds(500))
                        proxy.heal()
                        try await f.waitUntil("the row to be marked sent", timeout: .seconds(20)) {
                            try await f.notification(id).status == .sent
                        }
                        try await f.waitUntil("attempt 2 to find the row sent and complete", timeout: .seconds(40)) {
                            try await f.jobs(EmailSendWorker.Payload.kind).first?.state == "completed"
                        }
                        let jobs = try await f.jobs(EmailSendWorker.Payload.kind)
                        #expect(jobs.first?.errors.contains("rescued") == true, "attempt 1 lost its lease: \(jobs)")
                        let mails = try smtp.messages()
                        #expect(mails.count == 1, "\(mails.map { $0.header("Message-ID") ?? "" })")
                        #expect(mails.first?.subject == "Stalled once")
                        let row = try await f.notification(id)
                        #expect(row.status == .sent)
                        #expect(row.providerMessageID == mails.first?.header("Message-ID"))
                        #expect(try await f.sendingMark(id).by == nil)
                    }
                }
            }
        }
        await proxy.stop()
    }
}
