import BookingCore
import Foundation
import Hummingbird

/// `/v1/analytics/...` (admin): live figures from the booking tables.
struct AnalyticsRoutes: Sendable {
    let api: BookingAPI

    /// `from`/`to` query parameters (RFC 3339); the last 30 days by default.
    static func period(_ request: Request) throws -> (Date, Date) {
        let formatter = ISO8601DateFormatter()
        func date(_ name: String) throws -> Date? {
            guard let text = request.uri.queryParameters.get(name) else { return nil }
            guard text.count <= 40, let date = formatter.date(from: text) else {
                throw APIError.badRequest("'\(name)' must be an RFC 3339 time such as 2026-11-01T00:00:00Z", field: name)
            }
            try InputLimits.checkDate(date, field: name)
            return date
        }
        let to = try date("to") ?? Date()
        let from = try date("from") ?? to.addingTimeInterval(-30 * 86_400)
        guard from < to, to.timeIntervalSince(from) <= 366 * 86_400 else {
            throw APIError.badRequest("'from' must be before 'to', at most a year apart", field: "from")
        }
        return (from, to)
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.get("/v1/analytics/bookings") { request, context in
            _ = try await api.admin(context)
            let (from, to) = try Self.period(request)
            let summary = try await api.replicaRead { connection in
                let queries = AnalyticsQueries(logger: api.logger)
                return BookingsSummaryBody(from: from, to: to,
                                           days: try await queries.bookingsPerDay(from: from, to: to, on: connection),
                                           cancellation: try await queries.cancellationRate(from: from, to: to, on: connection))
            }
            return try JSONResponse.make(summary)
        }
        router.get("/v1/analytics/utilisation") { request, context in
            _ = try await api.admin(context)
            let page = try Page(request, defaultLimit: 200)
            let rows = try await api.replicaRead {
                try await AnalyticsQueries(logger: api.logger).capacityUtilisation(limit: page.fetchLimit, offset: page.offset, on: $0)
            }
            return try page.respond(rows.map(EventUtilisationBody.init), request: request)
        }
        router.get("/v1/analytics/top-events") { request, context in
            _ = try await api.admin(context)
            let page = try Page(request, defaultLimit: 10, maximumLimit: 100)
            let rows = try await api.replicaRead {
                try await AnalyticsQueries(logger: api.logger).mostBookedEvents(limit: page.fetchLimit, offset: page.offset, on: $0)
            }
            return try page.respond(rows.map(EventBookingsBody.init), request: request)
        }
        router.get("/v1/analytics/waitlists") { request, context in
            _ = try await api.admin(context)
            let page = try Page(request, defaultLimit: 200)
            let rows = try await api.replicaRead {
                try await AnalyticsQueries(logger: api.logger).waitlistLengths(limit: page.fetchLimit, offset: page.offset, on: $0)
            }
            return try page.respond(rows.map(WaitlistLengthBody.init), request: request)
        }
    }
}

// Response bodies: money as decimal strings, ids as lowercase UUIDs.

/// `/v1/analytics/bookings`: bookings per UTC day of the period and its cancellation rate.
struct BookingsSummaryBody: Encodable {
    var from: Date
    var to: Date
    var days: [DailyBookingsBody]
    var cancellation: CancellationRateBody

    init(from: Date, to: Date, days: [DailyBookings], cancellation: CancellationRate) {
        self.from = from
        self.to = to
        self.days = days.map(DailyBookingsBody.init)
        self.cancellation = CancellationRateBody(cancellation)
    }
}

struct DailyBookingsBody: Encodable {
    var day: String
    var bookings: Int
    var seats: Int
    var cancelled: Int
    var revenue: String

    init(_ figures: DailyBookings) {
        day = figures.day
        bookings = figures.bookings
        seats = figures.seats
        cancelled = figures.cancelled
        revenue = Money.text(figures.revenue)
    }
}

struct CancellationRateBody: Encodable {
    var bookings: Int
    var cancelled: Int
    var rate: Double

    init(_ figures: CancellationRate) {
        bookings = figures.bookings
        cancelled = figures.cancelled
        rate = figures.rate
    }
}

/// `/v1/analytics/utilisation`: one row per event.
struct EventUtilisationBody: Encodable {
    var eventID: String
    var name: String
    var startsAt: Date
    var status: String
    var capacity: Int
    var bookedSeats: Int
    var heldSeats: Int
    var availableSeats: Int
    var utilisation: Double

    init(_ figures: EventUtilisation) {
        eventID = figures.eventID.lowercased
        name = figures.name
        startsAt = figures.startsAt
        status = figures.status.rawValue
        capacity = figures.capacity
        bookedSeats = figures.bookedSeats
        heldSeats = figures.heldSeats
        availableSeats = figures.availableSeats
        utilisation = figures.utilisation
    }

    enum CodingKeys: String, CodingKey {
        case name, status, capacity, utilisation
        case eventID = "event_id", startsAt = "starts_at", bookedSeats = "booked_seats", heldSeats = "held_seats"
        case availableSeats = "available_seats"
    }
}

/// `/v1/analytics/top-events`: one row per event, most seats first.
struct EventBookingsBody: Encodable {
    var eventID: String
    var name: String
    var bookings: Int
    var seats: Int
    var revenue: String

    init(_ figures: EventBookings) {
        eventID = figures.eventID.lowercased
        name = figures.name
        bookings = figures.bookings
        seats = figures.seats
        revenue = Money.text(figures.revenue)
    }

    enum CodingKeys: String, CodingKey {
        case name, bookings, seats, revenue
        case eventID = "event_id"
    }
}

/// `/v1/analytics/waitlists`: per event, entries waiting, offers open and seats asked for.
struct WaitlistLengthBody: Encodable {
    var eventID: String
    var name: String
    var waiting: Int
    var offered: Int
    var seatsRequested: Int

    init(_ figures: WaitlistLength) {
        eventID = figures.eventID.lowercased
        name = figures.name
        waiting = figures.waiting
        offered = figures.offered
        seatsRequested = figures.seatsRequested
    }

    enum CodingKeys: String, CodingKey {
        case name, waiting, offered
        case eventID = "event_id", seatsRequested = "seats_requested"
    }
}
