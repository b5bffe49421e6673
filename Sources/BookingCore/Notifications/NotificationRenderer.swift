import Foundation

/// The one renderer of notifications, for every channel: it formats the facts (dates, amounts,
/// seat counts) and lays a template's wording out as a subject, a short body (SMS, in-app) and
/// an email body. A notification is rendered once, when its row is stored.
public enum NotificationRenderer {
    /// The text of `template` about `facts`. Plain text: nothing is escaped, and the subject is
    /// kept on one line so an event name with a line break cannot add email headers.
    public static func render(_ template: NotificationTemplate, _ facts: NotificationFacts) -> RenderedMessage {
        let wording = template.wording(ReadableFacts(facts))
        let subject = wording.subject.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        let details = wording.details.compactMap { label, value in
            value.map { "  " + (label + ":").padding(toLength: 10, withPad: " ", startingAt: 0) + " " + $0 }
        }
        let paragraphs: [String?] = ["Hello,", wording.summary, details.joined(separator: "\n"), wording.note, "Evently"]
        let emailBody = paragraphs.compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "\n\n") + "\n"
        return RenderedMessage(subject: subject, body: wording.summary, emailBody: emailBody)
    }

    /// A date as every message shows it, e.g. "2026-12-24 19:30 UTC".
    public static func text(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.calendar = Calendar(identifier: .gregorian)
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: date)
    }

    /// What a template says: its subject, the sentences every channel shows, the labelled
    /// details an email lists (a `nil` value is left out) and a closing note for email.
    struct Wording {
        var subject: String
        var summary: String
        var details: [(String, String?)] = []
        var note: String? = nil
    }

    /// The facts as text, formatted here once for every template.
    struct ReadableFacts {
        var event: String
        var venue: String
        var startsAt: String
        var reference: String?
        var quantity: String?
        var total: String?
        var offerExpiresAt: String?
        var offeredQuantity: String?
        var offeredTotal: String?
        /// "1 seat", "3 seats", or "your seats" when the count is not known.
        var seats: String
        var offeredSeats: String

        init(_ facts: NotificationFacts) {
            event = facts.eventName
            venue = facts.venue
            startsAt = NotificationRenderer.text(facts.startsAt)
            reference = facts.bookingReference
            quantity = facts.quantity.map(String.init)
            total = facts.totalAmount.map(Money.text)
            offerExpiresAt = facts.offerExpiresAt.map(NotificationRenderer.text)
            offeredQuantity = facts.offeredSeats.map(String.init)
            offeredTotal = facts.offeredAmount.map(Money.text)
            seats = Self.seats(facts.quantity)
            offeredSeats = Self.seats(facts.offeredSeats)
        }

        static func seats(_ count: Int?) -> String {
            count.map { "\($0) seat\($0 == 1 ? "" : "s")" } ?? "your seats"
        }

        /// " (text)", or nothing without a text.
        func inParentheses(_ text: String?) -> String {
            text.map { " (\($0))" } ?? ""
        }

        var eventDetails: [(String, String?)] {
            [("Event", event), ("Venue", venue), ("Starts", startsAt)]
        }

        var bookingDetails: [(String, String?)] {
            [("Reference", reference)] + eventDetails + [("Seats", quantity), ("Total", total)]
        }
    }
}
