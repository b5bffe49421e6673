import BookingCore
import Testing

@Suite(.timeLimit(.minutes(5))) struct WaitlistPromotionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var quantities: [Int]
        var free: Int
        var picked: [Int]
        var testDescription: String { "\(quantities) with \(free) free → \(picked)" }
    }

    @Test(arguments: [
        Case(quantities: [], free: 5, picked: []),
        Case(quantities: [1, 1, 1], free: 0, picked: []),
        Case(quantities: [2, 2, 2], free: 4, picked: [0, 1]),
        Case(quantities: [3, 5, 2, 1], free: 4, picked: [0, 3]),   // 5 and then 2 do not fit, 1 does
        Case(quantities: [5, 1, 4], free: 4, picked: [1]),          // the first is skipped, keeps its place
        Case(quantities: [4], free: 4, picked: [0]),
        Case(quantities: [6, 7], free: 5, picked: []),
        Case(quantities: [1, 2, 3, 4], free: 10, picked: [0, 1, 2, 3]),
    ])
    func picksInOrderWhatFits(_ c: Case) {
        #expect(WaitlistPromotion.pick(quantities: c.quantities, freeSeats: c.free) == c.picked)
    }
}
