import Foundation
import HTTPTypes
import Hummingbird
import Queue

/// `/v1/jobs` and `/v1/queues`: enqueue and steer jobs over HTTP (admin or operator role); the
/// console's lists and bulk actions are in ``OperatorRoutes``.
struct JobRoutes: Sendable {
    let jobs: JobClient
    /// For the read-only views (queue status, the console's lists): on the replica when current.
    var reads: @Sendable () -> JobClient
    /// The kinds HTTP may enqueue (`[http] enqueue_kinds`, never the internal ones).
    var scope = EnqueueScope(patterns: EnqueueScope.defaultPatterns)

    struct EnqueueBody: StrictBody {
        static let fields: Set<String> = ["kind", "args", "queue", "priority", "run_at", "max_attempts", "unique_key"]
        var kind: String
        var args: JSONObject?
        var queue: String?
        var priority: Int?
        var runAt: Date?
        var maxAttempts: Int?
        var uniqueKey: String?
        enum CodingKeys: String, CodingKey {
            case kind, args, queue, priority
            case runAt = "run_at", maxAttempts = "max_attempts", uniqueKey = "unique_key"
        }
    }

    struct EnqueueReply: Encodable {
        var id: Int64
        var inserted: Bool
    }

    static let staff: Set<Caller.Role> = [.admin, .operator]

    func add(to router: some RouterMethods<IntakeContext>) {
        router.post("/v1/jobs") { request, context in
            _ = try context.requireRole(Self.staff)
            let body = try await request.decodeStrict(EnqueueBody.self, context: context)
            try Self.check(body)
            guard scope.allows(body.kind) else {
                throw APIError(.forbidden, "kind_not_allowed",
                               "job kind '\(body.kind)' may not be enqueued over HTTP (see [http] enqueue_kinds; internal kinds never can)",
                               field: "kind")
            }
            var options = EnqueueOptions(runAt: body.runAt, uniqueKey: body.uniqueKey)
            options.queue = body.queue ?? options.queue
            options.priority = body.priority ?? options.priority
            options.maxAttempts = body.maxAttempts ?? options.maxAttempts
            let job = NewJob(kind: body.kind, argsJSON: body.args?.text ?? "{}", options: options)
            let result = try await jobs.enqueue(job)
            return try JSONResponse.make(EnqueueReply(id: result.id, inserted: result.inserted),
                                         status: result.inserted ? .created : .ok)
        }
        router.get("/v1/jobs/:id") { _, context in
            _ = try context.requireRole(Self.staff)
            return try JSONResponse.make(try await Self.mapped { try await jobs.job(id: try Self.jobID(context)) })
        }
        router.post("/v1/jobs/:id/retry") { _, context in
            _ = try context.requireRole(Self.staff)
            return try JSONResponse.make(try await Self.mapped { try await jobs.retry(id: try Self.jobID(context)) })
        }
        router.post("/v1/jobs/:id/cancel") { _, context in
            _ = try context.requireRole(Self.staff)
            return try JSONResponse.make(try await Self.mapped { try await jobs.cancel(id: try Self.jobID(context)) })
        }
        router.get("/v1/queues") { request, context in
            _ = try context.requireRole(Self.staff)
            // A handful of queues: paged in memory, so it reads like every other list.
            let page = try Page(request, defaultLimit: 200)
            let queues = try await reads().status()
            return try page.respond(Array(queues.dropFirst(page.offset).prefix(page.fetchLimit)), request: request)
        }
        OperatorRoutes(jobs: jobs, reads: reads).add(to: router)
    }

    /// The bounds of ``InputLimits``, field by field.
    static func check(_ body: EnqueueBody) throws(APIError) {
        try InputLimits.checkIdentifier(body.kind, field: "kind")
        if let queue = body.queue { try InputLimits.checkIdentifier(queue, field: "queue") }
        if let priority = body.priority { try InputLimits.checkInteger(priority, in: InputLimits.priority, field: "priority") }
        if let maxAttempts = body.maxAttempts {
            try InputLimits.checkInteger(maxAttempts, in: InputLimits.maxAttempts, field: "max_attempts")
        }
        if let runAt = body.runAt { try InputLimits.checkDate(runAt, field: "run_at") }
        if let uniqueKey = body.uniqueKey {
            guard !uniqueKey.isEmpty else { throw APIError.badRequest("'unique_key' must not be empty", field: "unique_key") }
            try InputLimits.checkText(uniqueKey, field: "unique_key", maxLength: InputLimits.uniqueKeyMaxLength)
        }
    }

    static func jobID(_ context: IntakeContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), text.count <= 19, let id = Int64(text), id > 0 else {
            throw APIError.badRequest("a job id is a positive number", field: "id")
        }
        return id
    }

    /// Turns the queue's operator errors into 404 and 409.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as QueueError {
            switch error {
            case .jobNotFound: throw APIError.notFound("job")
            case .invalidState: throw APIError(.conflict, "invalid_state", error.description)
            case .uniqueKeyHeld: throw APIError(.conflict, "unique_key_held", error.description)
            default: throw error
            }
        }
    }
}
