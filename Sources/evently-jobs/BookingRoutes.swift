import BookingCore
import Foundation
import HTTPTypes
import Hummingbird
import Workers

/// `/v1/bookings`: book with an Idempotency-Key, cancel, list your own.
struct BookingRoutes: Sendable {
    let api: BookingAPI

    struct CreateBody: StrictBody {
        static let fields: Set<String> = ["event_id", "quantity"]
        var eventID: UUID
        var quantity: Int
        enum CodingKeys: String, CodingKey {
            case quantity
            case eventID = "event_id"
        }
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.post("/v1/bookings") { request, context in
            let user = try await api.member(context)
            guard let key = request.headers[.idempotencyKey], !key.isEmpty else {
                throw APIError(.badRequest, "idempotency_key_required", "send an Idempotency-Key header (e.g. a UUID) so a retry never books twice",
                               field: "Idempotency-Key")
            }
            guard key.count <= 200 else { throw APIError.badRequest("the Idempotency-Key is longer than 200 characters", field: "Idempotency-Key") }
            let body = try await request.decodeStrict(CreateBody.self, context: context)
            guard (1...api.settings.maxQuantity).contains(body.quantity) else {
                throw APIError.badRequest("'quantity' must be between 1 and \(api.settings.maxQuantity)", field: "quantity")
            }
            // The body, canonically: the same key with another body is refused, not replayed.
            let requestHash = "event_id=\(body.eventID.uuidString.lowercased());quantity=\(body.quantity)"
            let outcome = try await api.keysInFlight.run("\(user.id)|\(key)") {
                try await api.transaction { connection in
                    let now = Date()
                    let outcome = try await BookingStore(logger: api.logger).book(
                        userID: user.id, eventID: body.eventID, quantity: body.quantity, idempotencyKey: key,
                        requestHash: requestHash, now: now, pricing: api.settings.pricing, on: connection)
                    try await api.applyFollowUps(outcome.followUps, now: now, on: connection)
                    return outcome
                }
            }
            var headers: HTTPFields = [:]
            if outcome.isReplay { headers[.idempotentReplayed] = "true" }
            return try JSONResponse.make(BookingBody(outcome.booking), status: .created, headers: headers)
        }
        router.get("/v1/bookings") { _, context in
            let user = try await api.member(context)
            let bookings = try await api.read { try await BookingStore(logger: api.logger).list(userID: user.id, on: $0) }
            return try JSONResponse.make(bookings.map(BookingBody.init))
        }
        router.get("/v1/bookings/:id") { _, context in
            let user = try await api.member(context)
            let id = try BookingAPI.uuid(context)
            let booking = try await api.read { try await BookingStore(logger: api.logger).get(id: id, for: user.id, on: $0) }
            return try JSONResponse.make(BookingBody(booking))
        }
        router.post("/v1/bookings/:id/cancel") { _, context in
            let user = try await api.member(context)
            let id = try BookingAPI.uuid(context)
            let booking = try await api.transaction { connection in
                let now = Date()
                let outcome = try await BookingStore(logger: api.logger).cancel(bookingID: id, by: user.id, now: now, on: connection)
                try await api.applyFollowUps(outcome.followUps, now: now, on: connection)
                return outcome.value
            }
            return try JSONResponse.make(BookingBody(booking))
        }
    }
}

extension HTTPField.Name {
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}
