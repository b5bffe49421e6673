import BookingCore
import Foundation
import Testing

@Suite(.timeLimit(.minutes(5))) struct NotificationRendererTests {
    @Test(arguments: NotificationTemplate.allCases)
    func everyTemplateRendersTheEvent(_ template: NotificationTemplate) {
        let facts = NotificationFacts(eventName: "Jazz Night", venue: "Hall", startsAt: Date(timeIntervalSince1970: 0),
                                      bookingReference: "EVT20250101000001", quantity: 2, totalAmount: 20,
                                      offerExpiresAt: Date(timeIntervalSince1970: 3600), offeredSeats: 2, offeredAmount: 25)
        let message = NotificationRenderer.render(template, facts)
        #expect(message.subject.contains("Jazz Night"))
        #expect(!message.body.isEmpty)
    }

    @Test(arguments: NotificationTemplate.allCases)
    func everyTemplateRendersASubjectAndABody(_ template: NotificationTemplate) throws {
        let facts = NotificationFacts(
            eventName: "Jazz & Blues <live>", venue: "Club", startsAt: try Date("2026-12-24T19:30:00Z", strategy: .iso8601),
            bookingReference: "EVT20261224000001", quantity: 2, totalAmount: 50,
            offerExpiresAt: try Date("2026-12-20T10:15:00Z", strategy: .iso8601), offeredSeats: 2, offeredAmount: 50)
        let rendered = NotificationRenderer.render(template, facts)
        #expect(rendered.subject.contains("Jazz & Blues <live>"), "\(template): plain text is not HTML-escaped")
        #expect(!rendered.subject.contains("\n"))
        #expect(rendered.emailBody.contains("2026-12-24 19:30 UTC"), "\(template): \(rendered.emailBody)")
        if template == .waitlistOffer { #expect(rendered.emailBody.contains("2026-12-20 10:15 UTC")) }
    }

    @Test func aLineBreakInTheEventNameStaysOutOfTheSubject() {
        let facts = NotificationFacts(eventName: "Jazz\r\nBcc: everyone@example.com", venue: "Club", startsAt: Date())
        #expect(!NotificationRenderer.render(.reminder, facts).subject.contains("\n"))
    }

    @Test func theConfirmationEmailListsTheBookingsDetails() {
        let facts = NotificationFacts(eventName: "Night Concert", venue: "Hall", startsAt: Date(timeIntervalSince1970: 0),
                                      bookingReference: "EVT19700101000001", quantity: 3, totalAmount: 75)
        let message = NotificationRenderer.render(.bookingConfirmed, facts)
        #expect(message.subject == "Booking confirmed: Night Concert (EVT19700101000001)")
        #expect(message.emailBody.contains("Reference: EVT19700101000001"))
        #expect(message.emailBody.contains("Total:     75.00"))
        #expect(message.emailBody.contains("Seats:     3"))
        #expect(message.body.contains("EVT19700101000001"))
        #expect(!message.body.contains("\n"), "SMS and in-app get the short text")
    }

    @Test func storedTextWithoutAnEmailBodyMailsItsBody() {
        let stored = RenderedMessage(content: ["subject": "From a newer writer", "body": "Hello there"])
        #expect(stored == RenderedMessage(subject: "From a newer writer", body: "Hello there", emailBody: "Hello there"))
    }
}
