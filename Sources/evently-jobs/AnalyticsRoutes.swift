import BookingCore
import Foundation
import Hummingbird
import NIOCore

/// `/v1/analytics/...` (admin): live figures from the booking tables.
struct AnalyticsRoutes: Sendable {
    let api: BookingAPI

    struct Summary: Encodable {
        var from: Date
        var to: Date
        var days: [DailyBookings]
        var cancellation: CancellationRate
    }

    /// `from`/`to` query parameters (RFC 3339); the last 30 days by default.
    static func period(_ request: Request) throws -> (Date, Date) {
        let formatter = ISO8601DateFormatter()
        func date(_ name: String) throws -> Date? {
            guard let text = request.uri.queryParameters.get(name) else { return nil }
            guard let date = formatter.date(from: text) else {
                throw APIError.badRequest("'\(name)' must be an RFC 3339 time such as 2026-11-01T00:00:00Z", field: name)
            }
            return date
        }
        let to = try date("to") ?? Date()
        let from = try date("from") ?? to.addingTimeInterval(-30 * 86_400)
        guard from < to, to.timeIntervalSince(from) <= 366 * 86_400 else {
            throw APIError.badRequest("'from' must be before 'to', at most a year apart", field: "from")
        }
        return (from, to)
    }

    static func respond<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.get("/v1/analytics/bookings") { request, context in
            _ = try await api.admin(context)
            let (from, to) = try Self.period(request)
            let summary = try await api.read { connection in
                let queries = AnalyticsQueries(logger: api.logger)
                return Summary(from: from, to: to,
                               days: try await queries.bookingsPerDay(from: from, to: to, on: connection),
                               cancellation: try await queries.cancellationRate(from: from, to: to, on: connection))
            }
            return try Self.respond(summary)
        }
        router.get("/v1/analytics/utilisation") { _, context in
            _ = try await api.admin(context)
            return try Self.respond(try await api.read { try await AnalyticsQueries(logger: api.logger).capacityUtilisation(on: $0) })
        }
        router.get("/v1/analytics/top-events") { request, context in
            _ = try await api.admin(context)
            let limit = Int(request.uri.queryParameters.get("limit") ?? "10") ?? 10
            guard (1...100).contains(limit) else { throw APIError.badRequest("'limit' must be 1 to 100", field: "limit") }
            return try Self.respond(try await api.read { try await AnalyticsQueries(logger: api.logger).mostBookedEvents(limit: limit, on: $0) })
        }
        router.get("/v1/analytics/waitlists") { _, context in
            _ = try await api.admin(context)
            return try Self.respond(try await api.read { try await AnalyticsQueries(logger: api.logger).waitlistLengths(on: $0) })
        }
    }
}
