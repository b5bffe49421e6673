import BookingCore
import Foundation
import Testing

@Suite(.timeLimit(.minutes(5))) struct FollowUpTests {
    @Test func followUpsRoundTripThroughJSON() throws {
        let followUps: [FollowUp] = [
            .notify(userID: UUID(), template: .waitlistOffer, eventID: UUID(), waitlistEntryID: UUID(), channels: [.sms, .inApp]),
            .promoteWaitlist(eventID: UUID()),
        ]
        let decoded = try JSONDecoder().decode([FollowUp].self, from: JSONEncoder().encode(followUps))
        #expect(decoded == followUps)
    }
}
