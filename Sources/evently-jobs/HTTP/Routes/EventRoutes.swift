import BookingCore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/events`: admins create, edit (with If-Match) and cancel events; anyone signed in reads.
struct EventRoutes: Sendable {
    let api: BookingAPI

    struct CreateBody: StrictBody {
        static let fields: Set<String> = ["name", "venue", "starts_at", "capacity", "price", "waitlist_mode"]
        var name: String
        var venue: String
        var startsAt: Date
        var capacity: Int
        var price: String
        var waitlistMode: String?
        enum CodingKeys: String, CodingKey {
            case name, venue, capacity, price
            case startsAt = "starts_at", waitlistMode = "waitlist_mode"
        }
    }

    /// The fields of ``CreateBody``, each optional: what is sent changes.
    struct PatchBody: StrictBody {
        static let fields = CreateBody.fields
        typealias CodingKeys = CreateBody.CodingKeys
        var name: String?
        var venue: String?
        var startsAt: Date?
        var capacity: Int?
        var price: String?
        var waitlistMode: String?
    }

    /// The bounds of ``InputLimits`` on the fields that are set; the price so that
    /// `booking.max_quantity` seats at the top pricing tier fit a booking's total.
    static func check(name: String?, venue: String?, startsAt: Date?, capacity: Int?, price: String?,
                      settings: BookingSettings) throws -> Decimal? {
        if let name { try InputLimits.checkText(name, field: "name", maxLength: InputLimits.nameMaxLength) }
        if let venue { try InputLimits.checkText(venue, field: "venue", maxLength: InputLimits.nameMaxLength) }
        if let startsAt { try InputLimits.checkDate(startsAt, field: "starts_at") }
        if let capacity { try InputLimits.checkInteger(capacity, in: InputLimits.capacity, field: "capacity") }
        guard let price else { return nil }
        let value = try Money.parse(price, field: "price")
        let maximum = InputLimits.maximumPrice(maxQuantity: settings.maxQuantity, pricing: settings.pricing)
        guard value <= maximum else {
            throw APIError.badRequest("'price' must be at most \(Money.text(maximum)), so that \(settings.maxQuantity) seats at the top price tier fit a booking's total",
                                      field: "price")
        }
        return value
    }

    /// The version `If-Match` names (`"3"`, `W/"3"`), or `nil` for `*` (any version).
    static func expectedVersion(_ ifMatch: String) throws -> Int? {
        let text = ifMatch.trimmingCharacters(in: .whitespaces)
        if text == "*" { return nil }
        guard text.count <= 24, let version = Int(text.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))) else {
            throw APIError.badRequest("If-Match must be the event's ETag, such as \"3\", or *", field: "If-Match")
        }
        return version
    }

    static func mode(_ text: String?) throws -> WaitlistMode? {
        guard let text else { return nil }
        guard let mode = WaitlistMode(rawValue: text) else {
            throw APIError.badRequest("'waitlist_mode' must be \"offer\" or \"auto_book\"", field: "waitlist_mode")
        }
        return mode
    }

    func respond(_ event: Event, status: HTTPResponse.Status = .ok) throws -> Response {
        try JSONResponse.make(EventBody(event, pricing: api.settings.pricing), status: status, headers: [.eTag: "\"\(event.version)\""])
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.post("/v1/events") { request, context in
            let adminID = try await api.admin(context)
            let body = try await request.decodeStrict(CreateBody.self, context: context)
            let price = try Self.check(name: body.name, venue: body.venue, startsAt: body.startsAt, capacity: body.capacity,
                                       price: body.price, settings: api.settings)
            let new = NewEvent(name: body.name, venue: body.venue, startsAt: body.startsAt, capacity: body.capacity,
                               basePrice: price ?? 0,
                               waitlistMode: try Self.mode(body.waitlistMode) ?? .offer)
            let event = try await api.transaction { connection in
                try await EventStore(logger: api.logger).create(new, by: adminID, now: Date(), on: connection)
            }
            return try respond(event, status: .created)
        }
        router.get("/v1/events") { request, context in
            _ = try await api.member(context)
            let page = try Page(request, defaultLimit: 100)
            let events = try await api.replicaRead { connection in
                try await EventStore(logger: api.logger).list(limit: page.fetchLimit, offset: page.offset, on: connection)
            }
            return try page.respond(events.map { EventBody($0, pricing: api.settings.pricing) }, request: request)
        }
        router.get("/v1/events/:id") { _, context in
            _ = try await api.member(context)
            let id = try BookingAPI.uuid(context)
            return try respond(try await api.read { try await EventStore(logger: api.logger).get(id: id, on: $0) })
        }
        router.patch("/v1/events/:id") { request, context in
            _ = try await api.admin(context)
            let id = try BookingAPI.uuid(context)
            guard let ifMatch = request.headers[.ifMatch] else {
                throw APIError(.preconditionRequired, "if_match_required", "send If-Match with the event's ETag to change it")
            }
            let version = try Self.expectedVersion(ifMatch)
            let body = try await request.decodeStrict(PatchBody.self, context: context)
            let price = try Self.check(name: body.name, venue: body.venue, startsAt: body.startsAt, capacity: body.capacity,
                                       price: body.price, settings: api.settings)
            let changes = EventChanges(name: body.name, venue: body.venue, startsAt: body.startsAt, capacity: body.capacity,
                                       basePrice: price,
                                       waitlistMode: try Self.mode(body.waitlistMode))
            let event = try await api.transaction { connection in
                try await EventStore(logger: api.logger).update(id: id, expectedVersion: version, changes: changes,
                                                                now: Date(), on: connection)
            }
            return try respond(event)
        }
        router.post("/v1/events/:id/cancel") { _, context in
            _ = try await api.admin(context)
            let id = try BookingAPI.uuid(context)
            let event = try await api.transaction(followingUp: { connection, now in
                try await EventStore(logger: api.logger).cancel(id: id, now: now, on: connection)
            })
            return try respond(event)
        }
    }
}

/// An event as the intake shows it: money as decimal strings, `current_price` the next seat's.
struct EventBody: Encodable {
    var id: String
    var name: String
    var venue: String
    var startsAt: Date
    var capacity: Int
    var availableSeats: Int
    var price: String
    var currentPrice: String
    var waitlistMode: String
    var status: String
    var version: Int

    init(_ event: Event, pricing: PricingPolicy) {
        id = event.id.lowercased
        name = event.name
        venue = event.venue
        startsAt = event.startsAt
        capacity = event.totalCapacity
        availableSeats = event.availableSeats
        price = Money.text(event.basePrice)
        currentPrice = Money.text(pricing.quote(event))
        waitlistMode = event.waitlistMode.rawValue
        status = event.status.rawValue
        version = event.version
    }

    enum CodingKeys: String, CodingKey {
        case id, name, venue, capacity, price, status, version
        case startsAt = "starts_at", availableSeats = "available_seats", currentPrice = "current_price", waitlistMode = "waitlist_mode"
    }
}
