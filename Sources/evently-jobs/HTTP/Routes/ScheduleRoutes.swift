import Foundation
import Hummingbird
import Queue
import Scheduler

/// `/v1/schedules`: the configured schedules with their next fire times and last tick, and
/// "run now" (admin or operator).
struct ScheduleRoutes: Sendable {
    let jobs: JobClient
    let schedules: [Schedule]

    struct RunReply: Encodable {
        var id: Int64
        var inserted: Bool
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        router.get("/v1/schedules") { request, context in
            _ = try context.requireRole(JobRoutes.staff)
            let next = try Self.nextCount(request)
            let overview = try await withDeadline(jobs.deadline ?? .seconds(30)) { [jobs, schedules] in
                try await ScheduleOverview.list(schedules, next: next, client: jobs.client, logger: jobs.logger)
            }
            return try JSONResponse.make(overview)
        }
        router.post("/v1/schedules/:name/run") { _, context in
            _ = try context.requireRole(JobRoutes.staff)
            let name = context.parameters.get("name") ?? ""
            guard let schedule = schedules.first(where: { $0.name == name }) else {
                throw APIError(.notFound, "schedule_not_found", "no schedule is named '\(name.prefix(100))'")
            }
            let result = try await jobs.enqueue(schedule.jobRunNow())
            return try JSONResponse.make(RunReply(id: result.id, inserted: result.inserted), status: result.inserted ? .created : .ok)
        }
    }

    /// `?next=` upcoming fire times per schedule: 1 to 20, default 3.
    static func nextCount(_ request: Request) throws(APIError) -> Int {
        guard let text = request.uri.queryParameters.get("next") else { return 3 }
        guard text.count <= 2, let value = Int(text), (1...20).contains(value) else {
            throw APIError.badRequest("'next' must be 1 to 20", field: "next")
        }
        return value
    }
}
