import BookingCore
import Foundation
import Hummingbird

/// `/v1/notifications`: the caller's own notifications; mark one read.
struct NotificationRoutes: Sendable {
    let api: BookingAPI

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.get("/v1/notifications") { request, context in
            let userID = try await api.member(context)
            let page = try Page(request, defaultLimit: 50)
            let list = try await api.read {
                try await NotificationStore(logger: api.logger).list(userID: userID, limit: page.fetchLimit, offset: page.offset, on: $0)
            }
            return try page.respond(list.map(NotificationBody.init), request: request)
        }
        router.post("/v1/notifications/:id/read") { _, context in
            let userID = try await api.member(context)
            let id = try BookingAPI.uuid(context)
            let read = try await api.read { try await NotificationStore(logger: api.logger).markRead(id: id, userID: userID, now: Date(), on: $0) }
            return try JSONResponse.make(NotificationBody(read))
        }
    }
}

/// A notification as its user sees it, with its delivery timestamps.
struct NotificationBody: Encodable {
    var id: String
    var type: String
    var template: String
    var subject: String?
    var body: String?
    var status: String
    var eventID: String?
    var bookingID: String?
    var createdAt: Date
    var sentAt: Date?
    var deliveredAt: Date?
    var failedAt: Date?
    var skippedAt: Date?
    var readAt: Date?
    /// `pending`, `retrying`, `sent`, `delivered`, `read`, `failed` or `not_sent`
    /// (``DeliveryReport``): what a user should go by; `status` is the stored state.
    var deliveryStatus: String
    /// Why delivery failed, is late or did not happen, in words meant for the user.
    var deliveryReason: String?
    /// Kept for existing clients: the user-facing reason when the row holds an error, never
    /// the technical error itself (that is for operators, in the job's errors and the logs).
    var lastError: String?

    init(_ notification: UserNotification) {
        id = notification.id.lowercased
        type = notification.type.rawValue
        template = notification.template
        subject = notification.content["subject"]
        body = notification.content["body"]
        status = notification.status.rawValue
        eventID = notification.eventID?.lowercased
        bookingID = notification.bookingID?.lowercased
        createdAt = notification.createdAt
        sentAt = notification.sentAt
        deliveredAt = notification.deliveredAt
        failedAt = notification.failedAt
        skippedAt = notification.skippedAt
        readAt = notification.readAt
        let report = DeliveryReport(notification)
        deliveryStatus = report.status
        deliveryReason = report.reason
        lastError = notification.lastError == nil ? nil : report.reason
    }

    enum CodingKeys: String, CodingKey {
        case id, type, template, subject, body, status
        case eventID = "event_id", bookingID = "booking_id", createdAt = "created_at", readAt = "read_at"
        case sentAt = "sent_at", deliveredAt = "delivered_at", failedAt = "failed_at", skippedAt = "skipped_at"
        case lastError = "last_error", deliveryStatus = "delivery_status", deliveryReason = "delivery_reason"
    }
}
