import Foundation
import HTTPTypes
import Hummingbird
import Queue

/// `/v1/jobs` and `/v1/queues`: enqueue and steer jobs over HTTP (admin or operator role).
struct JobRoutes: Sendable {
    let jobs: JobClient

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
            guard !body.kind.isEmpty else { throw APIError.badRequest("'kind' must not be empty", field: "kind") }
            if let maxAttempts = body.maxAttempts, maxAttempts < 1 {
                throw APIError.badRequest("'max_attempts' must be at least 1", field: "max_attempts")
            }
            if let queue = body.queue, queue.isEmpty { throw APIError.badRequest("'queue' must not be empty", field: "queue") }
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
            return try JSONResponse.make(try await jobs.job(id: try Self.jobID(context)))
        }
        router.post("/v1/jobs/:id/retry") { _, context in
            _ = try context.requireRole(Self.staff)
            return try JSONResponse.make(try await Self.mapped { try await jobs.retry(id: try Self.jobID(context)) })
        }
        router.post("/v1/jobs/:id/cancel") { _, context in
            _ = try context.requireRole(Self.staff)
            return try JSONResponse.make(try await Self.mapped { try await jobs.cancel(id: try Self.jobID(context)) })
        }
        router.get("/v1/queues") { _, context in
            _ = try context.requireRole(Self.staff)
            return try JSONResponse.make(try await jobs.status())
        }
    }

    static func jobID(_ context: IntakeContext) throws -> Int64 {
        guard let text = context.parameters.get("id"), let id = Int64(text) else {
            throw APIError.badRequest("a job id is a number", field: "id")
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
            default: throw error
            }
        }
    }
}
