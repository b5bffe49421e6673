import EventlyTestSupport
import Foundation
import PostgresNIO
import Queue
import Testing
@testable import evently_jobs

/// The operators' console API over real HTTP against a real daemon: job lists with filters and
/// keyset cursors, counts, bulk actions, failure groups, queue pause/resume, daemons, stats.
///
/// Jobs are mostly written straight into the table (states, errors and times a test cannot
/// wait for), with kinds no worker has (`op.*`), so the daemon leaves them where they are.
@Suite(.serialized, .timeLimit(.minutes(5))) struct OperatorAPITests {
    /// Inserts `count` jobs in one statement. `createdAgo`/`finishedAgo` are in minutes.
    static func insert(_ intake: DaemonHarness, count: Int = 1, kind: String, queue: String = "ops", state: JobState,
                       error: String? = nil, args: String = #"{}"#, createdAgo: Int = 0, finishedAgo: Int = 0,
                       attemptedBy: String? = nil) async throws -> [Int64] {
        let errors = error.map { #"[{"attempt": 1, "at": "2026-01-01T00:00:00Z", "kind": "error", "error": "\#($0)"}]"# } ?? "[]"
        let finalized = state.isFinished ? "now() - \(finishedAgo) * interval '1 minute'" : "NULL"
        let attempt = state == .available || state == .scheduled ? 0 : 1
        let lease = state == .running ? "now() + interval '1 hour'" : "NULL"
        let attemptedAt = attempt > 0 ? "now()" : "NULL"
        let sql = """
            INSERT INTO evently_jobs.jobs (kind, queue, args, state, attempt, errors, finalized_at, created_at,
                                           attempted_at, attempted_by, lease_expires_at, run_at)
            SELECT '\(kind)', '\(queue)', '\(args)'::jsonb, '\(state.rawValue)', \(attempt), '\(errors)'::jsonb, \(finalized),
                   now() - \(createdAgo) * interval '1 minute', \(attemptedAt), \(attemptedBy.map { "'\($0)'" } ?? "NULL"),
                   \(lease), CASE WHEN '\(state.rawValue)' = 'scheduled' THEN now() + interval '1 day' ELSE now() END
            FROM generate_series(1, \(count))
            RETURNING id
            """
        return try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration(database: "postgres")) { client in
            var ids: [Int64] = []
            for try await id in try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).decode(Int64.self) {
                ids.append(id)
            }
            return ids
        }
    }

    static func states(_ intake: DaemonHarness, _ ids: [Int64]) async throws -> [Int64: String] {
        try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration(database: "postgres")) { client in
            var states: [Int64: String] = [:]
            let rows = try await client.query("SELECT id, state FROM evently_jobs.jobs WHERE id = ANY(\(ids))", logger: TestDatabase.logger)
            for try await (id, state) in rows.decode((Int64, String).self) { states[id] = state }
            return states
        }
    }

    static func array(_ reply: HTTPReply) -> [[String: Any]] {
        (try? JSONSerialization.jsonObject(with: Data(reply.body.utf8))) as? [[String: Any]] ?? []
    }

    static func ids(_ reply: HTTPReply) -> [Int64] {
        array(reply).compactMap { ($0["id"] as? Int).map(Int64.init) }
    }

    /// `path` with `query` percent-encoded.
    static func path(_ path: String, _ query: [String: String]) -> String {
        var components = URLComponents()
        components.path = path
        components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        // `+` means a space to some parsers; spell it out.
        return (components.string ?? path).replacingOccurrences(of: "+", with: "%2B")
    }

    @Test func filtersFindTheRightJobs() async throws {
        try await DaemonHarness.withTokens { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            // First: ids follow creation times, which time filters rely on (JobQueries.creationSkew).
            let old = try await Self.insert(intake, count: 2, kind: "op.delta", queue: "one", state: .completed,
                                            createdAgo: 3 * 24 * 60, finishedAgo: 3 * 24 * 60)
            let available = try await Self.insert(intake, count: 6, kind: "op.alpha", queue: "one", state: .available)
            let needle = try await Self.insert(intake, kind: "op.alpha", queue: "one", state: .available,
                                               args: #"{"note": "Needle in the ARGS"}"#)
            let smtp = try await Self.insert(intake, count: 3, kind: "op.beta", queue: "two", state: .discarded,
                                             error: "boom: SMTP down")
            let timeouts = try await Self.insert(intake, count: 2, kind: "op.beta", queue: "two", state: .discarded,
                                                 error: "timeout talking to host")
            let retrying = try await Self.insert(intake, count: 2, kind: "op.gamma", queue: "two", state: .retryable,
                                                 error: "boom: SMTP down")
            let completed = try await Self.insert(intake, count: 4, kind: "op.alpha", queue: "one", state: .completed)
            let running = try await Self.insert(intake, kind: "op.alpha", queue: "one", state: .running, attemptedBy: "ghost:1")

            func list(_ query: [String: String]) async throws -> [Int64] {
                let reply = try await intake.send("GET", Self.path("/v1/jobs", query.merging(["limit": "200"]) { a, _ in a }),
                                                  token: operatorToken)
                #expect(reply.status == 200, "\(query): \(reply.body)")
                return Self.ids(reply)
            }
            func sortedDown(_ groups: [Int64]...) -> [Int64] { groups.flatMap { $0 }.sorted(by: >) }

            #expect(try await list(["state": "discarded"]) == sortedDown(smtp, timeouts))
            #expect(try await list(["state": "discarded,retryable"]) == sortedDown(smtp, timeouts, retrying))
            #expect(try await list(["state": "running"]) == running)
            #expect(try await list(["state": "completed", "kind": "op.alpha"]) == sortedDown(completed))
            #expect(try await list(["kind": "op.beta"]) == sortedDown(smtp, timeouts))
            #expect(try await list(["queue": "two"]) == sortedDown(smtp, timeouts, retrying))
            #expect(try await list(["queue": "one", "state": "available"]) == sortedDown(available, needle))
            #expect(try await list(["q": "smtp"]) == sortedDown(smtp, retrying), "case-insensitive, in the errors")
            #expect(try await list(["q": "needle in the args"]) == needle, "case-insensitive, in the arguments")
            #expect(try await list(["q": "50%_off"]) == [], "LIKE wildcards are plain text")
            #expect(try await list(["error": "boom: SMTP down"]) == sortedDown(smtp, retrying))
            #expect(try await list(["error": "boom: SMTP"]) == [], "the last error matches whole")
            #expect(try await list(["error": "timeout talking to host", "state": "retryable"]) == [])
            let dayAgo = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-86_400))
            let weekAgo = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-7 * 86_400))
            #expect(try await list(["until": dayAgo]) == sortedDown(old))
            #expect(try await list(["since": weekAgo, "until": dayAgo]) == sortedDown(old))
            #expect(try await list(["since": dayAgo, "kind": "op.delta"]) == [])
            #expect(try await list(["since": "2000-01-01T00:00:00.000Z", "kind": "op.delta"]) == sortedDown(old),
                    "fractional seconds, as browsers write them")
            let everything = try await list([:])
            #expect(Set(everything).isSuperset(of: available + needle + smtp + timeouts + retrying + completed + old + running))

            // The same shape as GET /v1/jobs/{id}.
            let one = try await intake.send("GET", "/v1/jobs?state=retryable&limit=1", token: operatorToken)
            let shown = try await intake.send("GET", "/v1/jobs/\(retrying.max()!)", token: operatorToken)
            let listed = try #require(Self.array(one).first)
            #expect(NSDictionary(dictionary: listed).isEqual(to: shown.json))
            #expect(listed["errors"] as? [[String: Any]] != nil)

            // Counts.
            let counted = try await intake.send("GET", "/v1/jobs/count?state=discarded,retryable&error=boom:%20SMTP%20down",
                                                token: operatorToken)
            #expect(counted.status == 200)
            #expect(counted.json["count"] as? Int == 5)
            #expect(counted.json["capped"] as? Bool == false)
            _ = try await Self.insert(intake, count: 100_001, kind: "op.bulk", queue: "many", state: .completed)
            let capped = try await intake.send("GET", "/v1/jobs/count?kind=op.bulk", token: operatorToken)
            #expect(capped.json["count"] as? Int == 100_000)
            #expect(capped.json["capped"] as? Bool == true)
            let exact = try await intake.send("GET", "/v1/jobs/count?kind=op.beta", token: operatorToken)
            #expect(exact.json["count"] as? Int == 5)
        }
    }

    @Test func cursorsWalkEveryJobOnceWhileNewOnesArrive() async throws {
        try await DaemonHarness.withTokens { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let first = try await Self.insert(intake, count: 23, kind: "op.page", state: .discarded, error: "x")
            var seen: [Int64] = []
            var next: String? = "/v1/jobs?kind=op.page&limit=5"
            var pages = 0
            while let path = next {
                let reply = try await intake.send("GET", path, token: admin)
                #expect(reply.status == 200, "\(reply.body)")
                let ids = Self.ids(reply)
                seen += ids
                pages += 1
                if let cursor = reply.headers["x-next-cursor"] {
                    #expect(ids.count == 5)
                    let link = try #require(reply.headers["link"])
                    #expect(link.hasPrefix("</v1/jobs?") && link.hasSuffix(">; rel=\"next\""))
                    #expect(link.contains("kind=op.page") && link.contains("limit=5") && link.contains("cursor=\(cursor)"))
                    next = String(link.dropFirst().prefix { $0 != ">" })
                } else {
                    next = nil
                }
                // Jobs enqueued between pages are newer than every cursor: they shift nothing.
                _ = try await Self.insert(intake, count: 2, kind: "op.page", state: .discarded, error: "x")
                #expect(pages < 20)
            }
            #expect(pages == 5)
            #expect(seen == first.sorted(by: >), "every job once, newest first, none of the later ones")

            let paged = try await intake.send("GET", "/v1/jobs?kind=op.page&limit=200", token: admin)
            #expect(Self.ids(paged).count == 23 + 2 * pages)
            #expect(paged.headers["x-next-cursor"] == nil)

            // An offset cursor from another list is not a keyset cursor, and the reverse.
            let offsetCursor = Page.encode(offset: 5)
            let refused = try await intake.send("GET", "/v1/jobs?cursor=\(offsetCursor)", token: admin)
            #expect(refused.status == 400)
            #expect(refused.errorField == "cursor")
            let keysetCursor = KeysetPage.encode(before: 5)
            #expect(try await intake.send("GET", "/v1/queues?cursor=\(keysetCursor)", token: admin).status == 400)
        }
    }

    @Test func bulkActionsByIDsAndByFilter() async throws {
        try await DaemonHarness.withTokens { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            // Retry by ids: a discarded diag.noop comes back and the woken daemon runs it.
            let noop = try await Self.insert(intake, kind: "diag.noop", queue: "default", state: .discarded, error: "was broken")
            let done = try await Self.insert(intake, kind: "op.x", state: .completed)
            let retried = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                json: #"{"action": "retry", "ids": [\#(noop[0]), \#(done[0]), 999999999]}"#)
            #expect(retried.status == 200, "\(retried.body)")
            #expect(retried.json["action"] as? String == "retry")
            #expect(retried.json["matched"] as? Int == 2, "the unknown id matches nothing")
            #expect(retried.json["changed"] as? Int == 1, "a completed job is not retried")
            var state = ""
            for _ in 0..<200 where state != "completed" {
                state = try await Self.states(intake, noop)[noop[0]] ?? ""
                if state != "completed" { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(state == "completed")

            // Cancel, retry and delete by filter, over more than one batch.
            let many = try await Self.insert(intake, count: 2_500, kind: "op.many", state: .discarded, error: "e")
            let manyRunning = try await Self.insert(intake, count: 3, kind: "op.many", state: .running, attemptedBy: "ghost:2")
            let retryAll = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                 json: #"{"action": "retry", "filter": {"kind": "op.many", "state": ["discarded"]}}"#)
            #expect(retryAll.json["matched"] as? Int == 2_500)
            #expect(retryAll.json["changed"] as? Int == 2_500)
            #expect(Set(try await Self.states(intake, many).values) == ["available"])

            let deleteUnfinished = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                         json: #"{"action": "delete", "filter": {"kind": "op.many"}}"#)
            #expect(deleteUnfinished.json["matched"] as? Int == 2_503)
            #expect(deleteUnfinished.json["changed"] as? Int == 0, "delete removes finished jobs only")

            let cancelAll = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                  json: #"{"action": "cancel", "filter": {"kind": "op.many", "q": "nothing-like-this"}}"#)
            #expect(cancelAll.json["matched"] as? Int == 0)
            let cancelled = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                  json: #"{"action": "cancel", "filter": {"kind": "op.many", "state": ["available"]}}"#)
            #expect(cancelled.json["changed"] as? Int == 2_500)
            let deleteByIDs = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                    json: #"{"action": "delete", "ids": [\#(manyRunning[0]), \#(many[0])]}"#)
            #expect(deleteByIDs.json["matched"] as? Int == 2)
            #expect(deleteByIDs.json["changed"] as? Int == 1)
            let deleted = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                json: #"{"action": "delete", "filter": {"kind": "op.many"}}"#)
            #expect(deleted.json["matched"] as? Int == 2_502)
            #expect(deleted.json["changed"] as? Int == 2_499)
            let left = try await Self.states(intake, many + manyRunning)
            #expect(left == Dictionary(uniqueKeysWithValues: manyRunning.map { ($0, "running") }), "running jobs are never deleted")

            // Cancel a running job by id, as the single-job cancel does.
            let cancelRunning = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                      json: #"{"action": "cancel", "ids": [\#(manyRunning[0])]}"#)
            #expect(cancelRunning.json["changed"] as? Int == 1)
            #expect(try await Self.states(intake, [manyRunning[0]])[manyRunning[0]] == "cancelled")

            // A retry does not take a unique key another unfinished job holds.
            let keyed = try await Self.insert(intake, kind: "op.keyed", state: .discarded, error: "e")
            let holder = try await intake.send("POST", "/v1/jobs", token: operatorToken,
                                               json: #"{"kind": "diag.sleep", "args": {"ms": 1}, "queue": "parked", "unique_key": "k-op"}"#)
            #expect(holder.status == 201)
            _ = try await TestDatabase.withClient(configuration: intake.cluster.clientConfiguration(database: "postgres")) { client in
                try await client.query("UPDATE evently_jobs.jobs SET unique_key = 'k-op' WHERE id = \(keyed[0])", logger: TestDatabase.logger)
            }
            let blocked = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken,
                                                json: #"{"action": "retry", "ids": [\#(keyed[0])]}"#)
            #expect(blocked.status == 200)
            #expect(blocked.json["changed"] as? Int == 0)

            // Refused bodies.
            let refusals: [(String, String, String)] = [
                (#"{"action": "retry"}"#, "invalid_request", "ids"),
                (#"{"action": "retry", "ids": [1], "filter": {}}"#, "invalid_request", "filter"),
                (#"{"action": "explode", "ids": [1]}"#, "invalid_request", "action"),
                (#"{"action": "retry", "ids": []}"#, "invalid_request", "ids"),
                (#"{"action": "retry", "ids": [0]}"#, "invalid_request", "ids"),
                (#"{"action": "retry", "ids": [\#((1...1_001).map(String.init).joined(separator: ","))]}"#, "invalid_request", "ids"),
                (#"{"action": "retry", "ids": [1], "colour": "red"}"#, "unknown_field", "colour"),
                (#"{"action": "retry", "filter": {"colour": "red"}}"#, "unknown_field", "filter.colour"),
                (#"{"action": "retry", "filter": {"state": ["bogus"]}}"#, "invalid_request", "filter.state"),
                (#"{"action": "retry", "filter": {"since": "yesterday"}}"#, "invalid_request", "filter.since"),
                (#"{"action": "retry", "filter": {"kind": "Not A Kind"}}"#, "invalid_request", "filter.kind"),
                (#"{"action": "delete", "filter": {}}"#, "invalid_request", "filter"),
                (#"{"action": "delete", "filter": {"state": []}}"#, "invalid_request", "filter"),
            ]
            for (body, code, field) in refusals {
                let reply = try await intake.send("POST", "/v1/jobs/bulk", token: operatorToken, json: body)
                #expect(reply.status == 400, "\(body.prefix(80))")
                #expect(reply.errorCode == code, "\(body.prefix(80))")
                #expect(reply.errorField == field, "\(body.prefix(80))")
            }
        }
    }

    @Test func failuresAreGroupedByKindAndLastError() async throws {
        try await DaemonHarness.withTokens { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            let smtp = try await Self.insert(intake, count: 3, kind: "op.mail", state: .discarded, error: "SMTP 421 try later",
                                             finishedAgo: 30)
            let smtpRetrying = try await Self.insert(intake, count: 2, kind: "op.mail", state: .retryable, error: "SMTP 421 try later")
            let dns = try await Self.insert(intake, count: 1, kind: "op.mail", state: .discarded, error: "no such host")
            _ = try await Self.insert(intake, count: 4, kind: "op.mail", state: .discarded, error: "ancient", finishedAgo: 3 * 24 * 60)
            let long = String(repeating: "é", count: 400)
            _ = try await Self.insert(intake, count: 1, kind: "op.sms", queue: "texts", state: .discarded, error: long)

            let reply = try await intake.send("GET", "/v1/failures", token: operatorToken)
            #expect(reply.status == 200, "\(reply.body)")
            let groups = Self.array(reply)
            #expect(groups.map { $0["error"] as? String } == ["SMTP 421 try later", "no such host", String(repeating: "é", count: 300)],
                    "most frequent first (then by kind), the last 24 h by default, messages cut at 300 characters")
            let first = try #require(groups.first)
            #expect(first["kind"] as? String == "op.mail")
            #expect(first["count"] as? Int == 5)
            #expect(first["discarded"] as? Int == 3)
            #expect(first["retryable"] as? Int == 2)
            #expect(first["sample_id"] as? Int == Int((smtp + smtpRetrying).max()!))
            let firstSeen = try #require((first["first_seen"] as? String).flatMap(ISO8601DateFormatter().date(from:)))
            let lastSeen = try #require((first["last_seen"] as? String).flatMap(ISO8601DateFormatter().date(from:)))
            #expect(firstSeen < lastSeen)
            #expect(abs(firstSeen.timeIntervalSinceNow + 30 * 60) < 120)
            #expect(groups.dropFirst().first?["sample_id"] as? Int == Int(dns[0]))

            let texts = Self.array(try await intake.send("GET", "/v1/failures?queue=texts", token: operatorToken))
            #expect(texts.map { $0["kind"] as? String } == ["op.sms"])
            let mail = Self.array(try await intake.send("GET", "/v1/failures?kind=op.mail", token: operatorToken))
            #expect(mail.count == 2)
            let week = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-7 * 86_400))
            let older = Self.array(try await intake.send("GET", "/v1/failures?since=\(week)", token: operatorToken))
            #expect(older.count == 4)

            // The jobs behind a group, by its error (truncated as the group shows it).
            let behind = try await intake.send("GET", Self.path("/v1/jobs", ["error": String(repeating: "é", count: 300)]),
                                               token: operatorToken)
            #expect(Self.ids(behind).count == 1)
            #expect(try await intake.send("GET", "/v1/failures?since=now", token: operatorToken).errorField == "since")
            #expect(try await intake.send("GET", "/v1/failures?kind=A", token: operatorToken).errorField == "kind")
        }
    }

    @Test func queuesPauseAndResume() async throws {
        try await DaemonHarness.withTokens { intake in
            let operatorToken = try await TokenFactory.token(role: "operator")
            let paused = try await intake.send("POST", "/v1/queues/default/pause", token: operatorToken)
            #expect(paused.status == 200, "\(paused.body)")
            #expect(paused.json["queue"] as? String == "default")
            #expect(paused.json["paused"] as? Bool == true)
            #expect(paused.json["counts"] as? [String: Int] != nil)
            let enqueued = try await intake.send("POST", "/v1/jobs", token: operatorToken, json: #"{"kind": "diag.noop"}"#)
            let id = try #require(enqueued.json["id"] as? Int)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await Self.states(intake, [Int64(id)])[Int64(id)] == "available", "a paused queue is not claimed")
            let queues = Self.array(try await intake.send("GET", "/v1/queues", token: operatorToken))
            #expect(queues.first { $0["queue"] as? String == "default" }?["paused"] as? Bool == true)

            let resumed = try await intake.send("POST", "/v1/queues/default/resume", token: operatorToken)
            #expect(resumed.status == 200)
            #expect(resumed.json["paused"] as? Bool == false)
            var state = ""
            for _ in 0..<200 where state != "completed" {
                state = try await Self.states(intake, [Int64(id)])[Int64(id)] ?? ""
                if state != "completed" { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(state == "completed", "resuming wakes the daemon")

            let fresh = try await intake.send("POST", "/v1/queues/never-used/resume", token: operatorToken)
            #expect(fresh.status == 200)
            #expect(fresh.json["paused"] as? Bool == false)
            let bad = try await intake.send("POST", "/v1/queues/Bad%20Name/pause", token: operatorToken)
            #expect(bad.status == 400)
            #expect(bad.errorField == "name")
        }
    }

    @Test func daemonsAndStats() async throws {
        try await DaemonHarness.withTokens { intake in
            let admin = try await TokenFactory.token(role: "admin")
            let sleeping = try await intake.send("POST", "/v1/jobs", token: admin, json: #"{"kind": "diag.sleep", "args": {"ms": 4000}}"#)
            let id = try #require(sleeping.json["id"] as? Int)
            var daemons: [[String: Any]] = []
            for _ in 0..<200 {
                daemons = Self.array(try await intake.send("GET", "/v1/daemons", token: admin))
                if daemons.first?["running"] as? Int == 1 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(daemons.count == 1)
            let daemon = try #require(daemons.first)
            #expect(daemon["running"] as? Int == 1)
            #expect(daemon["pid"] as? Int == Int(getpid()))
            let job = try await intake.send("GET", "/v1/jobs/\(id)", token: admin)
            #expect(job.json["attempted_by"] as? String == daemon["name"] as? String)
            for key in ["host", "version", "started_at", "heartbeat_at", "queues", "kinds"] { #expect(daemon[key] != nil, "\(key)") }

            _ = try await Self.insert(intake, count: 3, kind: "op.s", queue: "stats", state: .completed)
            _ = try await Self.insert(intake, count: 2, kind: "op.s", queue: "stats", state: .discarded, error: "e")
            _ = try await Self.insert(intake, count: 1, kind: "op.s", queue: "stats", state: .cancelled, error: "e")
            _ = try await Self.insert(intake, count: 5, kind: "op.s", queue: "stats", state: .completed, finishedAgo: 10)
            _ = try await Self.insert(intake, count: 7, kind: "op.s", queue: "stats", state: .completed, finishedAgo: 120)
            func total(_ rows: [[String: Any]], _ key: String) -> Int { rows.reduce(0) { $0 + ($1[key] as? Int ?? 0) } }
            let stats = Self.array(try await intake.send("GET", "/v1/stats", token: admin)).filter { $0["queue"] as? String == "stats" }
            // The jobs finished "now" were written a few milliseconds apart, maybe across a minute's end.
            #expect((2...3).contains(stats.count), "the last hour, one row per minute with any")
            #expect(stats.first?["completed"] as? Int == 5, "oldest minute first")
            #expect(total(stats, "completed") == 8)
            #expect(total(stats, "discarded") == 2)
            #expect(total(stats, "cancelled") == 1)
            let minutes = stats.compactMap { ($0["minute"] as? String).flatMap(ISO8601DateFormatter().date(from:)) }
            #expect(minutes.count == stats.count)
            #expect(minutes.allSatisfy { Int($0.timeIntervalSince1970) % 60 == 0 }, "the start of each minute")
            #expect(minutes == minutes.sorted())
            let day = Self.array(try await intake.send("GET", "/v1/stats?minutes=1440", token: admin)).filter { $0["queue"] as? String == "stats" }
            #expect(total(day, "completed") == 15)
            for bad in ["0", "1441", "x", "-5"] {
                let reply = try await intake.send("GET", "/v1/stats?minutes=\(bad)", token: admin)
                #expect(reply.status == 400)
                #expect(reply.errorField == "minutes")
            }
        }
    }

    @Test func staffOnlyAndBadFiltersNameTheirField() async throws {
        try await DaemonHarness.withTokens { intake in
            let user = try await TokenFactory.token(role: "user")
            let admin = try await TokenFactory.token(role: "admin")
            let routes: [(String, String, String?)] = [
                ("GET", "/v1/jobs", nil), ("GET", "/v1/jobs/count", nil),
                ("POST", "/v1/jobs/bulk", #"{"action": "retry", "ids": [1]}"#), ("GET", "/v1/failures", nil),
                ("POST", "/v1/queues/default/pause", nil), ("POST", "/v1/queues/default/resume", nil),
                ("GET", "/v1/daemons", nil), ("GET", "/v1/stats", nil),
            ]
            for (method, path, body) in routes {
                #expect(try await intake.send(method, path, json: body).status == 401, "\(method) \(path)")
                let forbidden = try await intake.send(method, path, token: user, json: body)
                #expect(forbidden.status == 403, "\(method) \(path)")
                #expect(forbidden.errorCode == "forbidden")
                #expect(try await intake.send(method, path, token: admin, json: body).status == 200, "\(method) \(path)")
            }
            let bad: [(String, String)] = [
                ("state=bogus", "state"), ("state=discarded,", "state"), ("state=", "state"),
                ("kind=Upper", "kind"), ("kind=", "kind"), ("queue=a%20b", "queue"),
                ("since=yesterday", "since"), ("until=2026-13-01T00:00:00Z", "until"), ("since=1999-01-01T00:00:00Z", "since"),
                ("since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
                ("q=", "q"), ("q=\(String(repeating: "x", count: 201))", "q"), ("q=a%0Ab", "q"),
                ("error=\(String(repeating: "x", count: 301))", "error"),
                ("limit=0", "limit"), ("limit=201", "limit"), ("cursor=not-a-cursor", "cursor"),
            ]
            for (query, field) in bad {
                for path in ["/v1/jobs", "/v1/jobs/count"] where !(path.hasSuffix("count") && ["limit", "cursor"].contains(field)) {
                    let reply = try await intake.send("GET", "\(path)?\(query)", token: admin)
                    #expect(reply.status == 400, "\(path)?\(query.prefix(40))")
                    #expect(reply.errorCode == "invalid_request", "\(path)?\(query.prefix(40))")
                    #expect(reply.errorField == field, "\(path)?\(query.prefix(40))")
                }
            }
            let fine = try await intake.send("GET", "/v1/jobs?q=x%20y&error=line%20one%0Aline%20two&limit=200", token: admin)
            #expect(fine.status == 200, "an error message may span lines")
        }
    }
}
