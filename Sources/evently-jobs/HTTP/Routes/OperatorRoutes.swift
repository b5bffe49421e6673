import Foundation
import HTTPTypes
import Hummingbird
import Queue

/// The operators' console API (admin or operator): find jobs, act on many at once, see
/// failures by cause, steer queues, see daemons and throughput. Registered by ``JobRoutes``.
struct OperatorRoutes: Sendable {
    let jobs: JobClient
    /// The read-only views' client (``JobRoutes/reads``); bulk actions and pauses use ``jobs``.
    var reads: @Sendable () -> JobClient

    /// `GET /v1/jobs/count` counts no further: enough to confirm "retry all N", cheap on any table.
    static let countCap = 100_000
    /// `POST /v1/jobs/bulk` takes at most this many ids (the size of one batch).
    static let maximumIDs = 1_000
    /// `q`: text searched in arguments and errors.
    static let textMaxLength = 200
    /// `GET /v1/failures` returns at most this many groups.
    static let failureGroupLimit = 100
    /// `GET /v1/stats?minutes=`.
    static let statsMinutes = 1...1_440

    struct BulkBody: StrictBody {
        static let fields: Set<String> = ["action", "ids", "filter"]
        var action: String
        var ids: [Int64]?
        var filter: FilterBody?
    }

    /// The filter of a bulk action: the fields of `GET /v1/jobs`, with `state` as an array.
    struct FilterBody: Decodable {
        static let fields: Set<String> = ["state", "kind", "queue", "since", "until", "q", "error"]
        var state: [String]?
        var kind: String?
        var queue: String?
        var since: String?
        var until: String?
        var q: String?
        var error: String?

        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        enum CodingKeys: String, CodingKey { case state, kind, queue, since, until, q, error }

        init(from decoder: any Decoder) throws {
            // decodeStrict checks the top level only; a nested unknown field is refused here.
            let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).sorted()
            if let unknown = keys.first(where: { !Self.fields.contains($0) }) {
                throw APIError(.badRequest, "unknown_field", "unknown field 'filter.\(unknown)'", field: "filter.\(unknown)")
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            state = try container.decodeIfPresent([String].self, forKey: .state)
            kind = try container.decodeIfPresent(String.self, forKey: .kind)
            queue = try container.decodeIfPresent(String.self, forKey: .queue)
            since = try container.decodeIfPresent(String.self, forKey: .since)
            until = try container.decodeIfPresent(String.self, forKey: .until)
            q = try container.decodeIfPresent(String.self, forKey: .q)
            error = try container.decodeIfPresent(String.self, forKey: .error)
        }
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        let jobs = self.jobs
        router.get("/v1/jobs") { request, context in
            _ = try context.requireRole(JobRoutes.staff)
            let filter = try Self.filter(request)
            let page = try KeysetPage(request, defaultLimit: 50)
            let found = try await reads().page(matching: filter, before: page.before, limit: page.fetchLimit)
            return try page.respond(found.jobs, id: \.id, request: request, continueBelow: found.continueBelow)
        }
        router.get("/v1/jobs/count") { request, context in
            _ = try context.requireRole(JobRoutes.staff)
            return try JSONResponse.make(try await reads().count(matching: try Self.filter(request), cap: Self.countCap))
        }
        router.post("/v1/jobs/bulk") { request, context in
            _ = try context.requireRole(JobRoutes.staff)
            let body = try await request.decodeStrict(BulkBody.self, context: context)
            guard let action = BulkAction(rawValue: body.action) else {
                throw APIError.badRequest("'action' must be one of retry, cancel, delete", field: "action")
            }
            switch (body.ids, body.filter) {
            case (let ids?, nil):
                guard (1...Self.maximumIDs).contains(ids.count) else {
                    throw APIError.badRequest("'ids' must hold 1 to \(Self.maximumIDs) job ids", field: "ids")
                }
                guard ids.allSatisfy({ $0 > 0 }) else { throw APIError.badRequest("a job id is a positive number", field: "ids") }
                return try JSONResponse.make(try await jobs.bulk(action, ids: ids))
            case (nil, let filterBody?):
                let filter = try Self.filter(filterBody)
                if action == .delete, filter.isEmpty {
                    throw APIError.badRequest("deleting by filter needs at least one filter field", field: "filter")
                }
                return try JSONResponse.make(try await jobs.bulk(action, matching: filter))
            default:
                throw APIError.badRequest("give exactly one of 'ids' and 'filter'", field: body.ids == nil ? "ids" : "filter")
            }
        }
        router.get("/v1/failures") { request, context in
            _ = try context.requireRole(JobRoutes.staff)
            let query = request.uri.queryParameters
            let since = try Self.date(query.get("since"), field: "since") ?? Date().addingTimeInterval(-86_400)
            let queue = try Self.identifier(query.get("queue"), field: "queue")
            let kind = try Self.identifier(query.get("kind"), field: "kind")
            return try JSONResponse.make(try await reads().failureGroups(since: since, queue: queue, kind: kind,
                                                                      limit: Self.failureGroupLimit))
        }
        router.post("/v1/queues/:name/pause") { _, context in
            _ = try context.requireRole(JobRoutes.staff)
            return try JSONResponse.make(try await Self.setPaused(true, context: context, jobs: jobs))
        }
        router.post("/v1/queues/:name/resume") { _, context in
            _ = try context.requireRole(JobRoutes.staff)
            return try JSONResponse.make(try await Self.setPaused(false, context: context, jobs: jobs))
        }
        router.get("/v1/daemons") { _, context in
            _ = try context.requireRole(JobRoutes.staff)
            return try JSONResponse.make(try await reads().daemonActivity())
        }
        router.get("/v1/stats") { request, context in
            _ = try context.requireRole(JobRoutes.staff)
            var minutes = 60
            if let text = request.uri.queryParameters.get("minutes") {
                guard text.count <= 5, let value = Int(text), Self.statsMinutes.contains(value) else {
                    throw APIError.badRequest("'minutes' must be 1 to \(Self.statsMinutes.upperBound)", field: "minutes")
                }
                minutes = value
            }
            return try JSONResponse.make(try await reads().finishedPerMinute(minutes: minutes))
        }
    }

    static func setPaused(_ paused: Bool, context: IntakeContext, jobs: JobClient) async throws -> QueueStatus {
        guard let name = context.parameters.get("name") else { throw APIError.badRequest("a queue name is required", field: "name") }
        try InputLimits.checkIdentifier(name, field: "name")
        try await jobs.setPaused(paused, queue: name)
        // The pause row just written puts the queue in the status, jobs or not.
        guard let status = try await jobs.status().first(where: { $0.queue == name }) else {
            throw QueueError.unexpected("queue '\(name)' is missing from the status after being \(paused ? "paused" : "resumed")")
        }
        return status
    }

    // MARK: Filters

    /// The filter of `GET /v1/jobs` and `/v1/jobs/count`, each field checked (400 naming it).
    static func filter(_ request: Request) throws(APIError) -> JobFilter {
        let query = request.uri.queryParameters
        func value(_ name: String) -> String? { query.get(name).map { String($0) } }
        let states: [String]? = value("state")?.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return try filter(states: states, kind: value("kind"), queue: value("queue"), since: value("since"),
                          until: value("until"), text: value("q"), lastError: value("error"))
    }

    static func filter(_ body: FilterBody) throws(APIError) -> JobFilter {
        try filter(states: body.state, kind: body.kind, queue: body.queue, since: body.since, until: body.until,
                   text: body.q, lastError: body.error, prefix: "filter.")
    }

    static func filter(states: [String]?, kind: String?, queue: String?, since: String?, until: String?,
                       text: String?, lastError: String?, prefix: String = "") throws(APIError) -> JobFilter {
        var filter = JobFilter()
        if let states {
            for name in states {
                guard let state = JobState(rawValue: name) else {
                    throw APIError.badRequest("'state' must be one or more of \(JobState.allCases.map(\.rawValue).joined(separator: ", "))",
                                              field: prefix + "state")
                }
                if !filter.states.contains(state) { filter.states.append(state) }
            }
        }
        filter.kind = try identifier(kind, field: prefix + "kind")
        filter.queue = try identifier(queue, field: prefix + "queue")
        filter.since = try date(since, field: prefix + "since")
        filter.until = try date(until, field: prefix + "until")
        if let since = filter.since, let until = filter.until, since >= until {
            throw APIError.badRequest("'since' must be before 'until'", field: prefix + "since")
        }
        if let text {
            guard (1...textMaxLength).contains(text.unicodeScalars.count), !InputLimits.containsControlCharacters(text) else {
                throw APIError.badRequest("'q' must be 1 to \(textMaxLength) characters without control characters", field: prefix + "q")
            }
            filter.text = text
        }
        if let lastError {
            // An error message may span lines, so only NUL (which no message holds) is refused.
            guard lastError.unicodeScalars.count <= FailureGroup.errorLength, !lastError.unicodeScalars.contains("\0") else {
                throw APIError.badRequest("'error' must be at most \(FailureGroup.errorLength) characters, without NUL",
                                          field: prefix + "error")
            }
            filter.lastError = lastError
        }
        return filter
    }

    static func identifier(_ text: String?, field: String) throws(APIError) -> String? {
        guard let text else { return nil }
        try InputLimits.checkIdentifier(text, field: field)
        return text
    }

    /// An RFC 3339 time, with or without fractional seconds (what browsers' `toISOString` writes).
    static func date(_ text: String?, field: String) throws(APIError) -> Date? {
        guard let text else { return nil }
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard text.count <= 40, let date = plain.date(from: text) ?? fractional.date(from: text) else {
            throw APIError.badRequest("'\(field.split(separator: ".").last ?? "")' must be an RFC 3339 time such as 2026-11-01T00:00:00Z",
                                      field: field)
        }
        try InputLimits.checkDate(date, field: field)
        return date
    }
}
