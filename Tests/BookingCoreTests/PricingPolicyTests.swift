import BookingCore
import Foundation
import Testing

@Suite(.timeLimit(.minutes(5))) struct PricingPolicyTests {
    static func d(_ text: String) -> Decimal { Decimal(string: text)! }

    struct SeatCase: Sendable, CustomTestStringConvertible {
        var position: Int
        var capacity: Int
        var multiplier: String
        var testDescription: String { "seat \(position) of \(capacity) → ×\(multiplier)" }
    }

    @Test(arguments: [
        SeatCase(position: 0, capacity: 100, multiplier: "1"),
        SeatCase(position: 49, capacity: 100, multiplier: "1"),
        SeatCase(position: 50, capacity: 100, multiplier: "1.25"),
        SeatCase(position: 79, capacity: 100, multiplier: "1.25"),
        SeatCase(position: 80, capacity: 100, multiplier: "1.5"),
        SeatCase(position: 99, capacity: 100, multiplier: "1.5"),
        SeatCase(position: 150, capacity: 100, multiplier: "1.5"),   // beyond capacity: last tier
        SeatCase(position: 1, capacity: 3, multiplier: "1"),         // 1/3 < 0.5
        SeatCase(position: 2, capacity: 3, multiplier: "1.25"),      // 2/3 in [0.5, 0.8)
        SeatCase(position: 0, capacity: 1, multiplier: "1"),
        SeatCase(position: 4, capacity: 5, multiplier: "1.5"),       // 0.8 exactly starts the last tier
        SeatCase(position: 3, capacity: 5, multiplier: "1.25"),
    ])
    func standardTiersBySeatPosition(_ c: SeatCase) {
        #expect(PricingPolicy.standard.multiplier(ofSeatAt: c.position, capacity: c.capacity) == Self.d(c.multiplier))
    }

    struct TotalCase: Sendable, CustomTestStringConvertible {
        var quantity: Int
        var soldBefore: Int
        var capacity: Int
        var base: String
        var total: String
        var testDescription: String { "\(quantity) after \(soldBefore)/\(capacity) at \(base) = \(total)" }
    }

    @Test(arguments: [
        TotalCase(quantity: 1, soldBefore: 0, capacity: 100, base: "10.00", total: "10"),
        TotalCase(quantity: 4, soldBefore: 48, capacity: 100, base: "10.00", total: "45"),        // 2 × 10 + 2 × 12.50
        TotalCase(quantity: 3, soldBefore: 79, capacity: 100, base: "10.00", total: "42.5"),      // 12.50 + 2 × 15
        TotalCase(quantity: 1, soldBefore: 50, capacity: 100, base: "9.99", total: "12.49"),      // 12.4875 rounds half up
        TotalCase(quantity: 2, soldBefore: 60, capacity: 100, base: "0.01", total: "0.02"),       // 0.0125 → 0.01 per seat
        TotalCase(quantity: 10, soldBefore: 0, capacity: 10, base: "20.00", total: "235"),        // 5×20 + 3×25 + 2×30
        TotalCase(quantity: 0, soldBefore: 0, capacity: 10, base: "20.00", total: "0"),
        TotalCase(quantity: 1, soldBefore: 0, capacity: 10, base: "0", total: "0"),
    ])
    func totalsSumEachSeatsRoundedPrice(_ c: TotalCase) {
        let total = PricingPolicy.standard.total(quantity: c.quantity, soldBefore: c.soldBefore, capacity: c.capacity,
                                                 basePrice: Self.d(c.base))
        #expect(total == Self.d(c.total))
    }

    @Test func flatPricingIgnoresSellThrough() {
        #expect(PricingPolicy.flat.total(quantity: 3, soldBefore: 97, capacity: 100, basePrice: 12.5) == Self.d("37.5"))
    }

    @Test func tiersFromDoublesAreExactDecimals() throws {
        let tier = PricingPolicy.Tier(upToSoldFraction: 0.7, multiplier: 1.1)
        #expect(tier.upToSoldFraction == Self.d("0.7"))
        #expect(tier.multiplier == Self.d("1.1"))
        let policy = try PricingPolicy(tiers: [tier, .init(upToSoldFraction: 1.0, multiplier: 2.0)])
        // 70 / 100 is exactly 0.7: the seat belongs to the second tier.
        #expect(policy.multiplier(ofSeatAt: 69, capacity: 100) == Self.d("1.1"))
        #expect(policy.multiplier(ofSeatAt: 70, capacity: 100) == 2)
    }

    @Test(arguments: [
        [PricingPolicy.Tier](),
        [.init(upToSoldFraction: 0.5, multiplier: 1.0)],                                           // does not reach 1
        [.init(upToSoldFraction: 0.8, multiplier: 1.0), .init(upToSoldFraction: 0.5, multiplier: 1.0),
         .init(upToSoldFraction: 1.0, multiplier: 1.0)],                                           // not ascending
        [.init(upToSoldFraction: 1.0, multiplier: 0.0)],                                           // free by multiplier
        [.init(upToSoldFraction: 0.0, multiplier: 1.0), .init(upToSoldFraction: 1.0, multiplier: 1.0)],
        [.init(upToSoldFraction: 1.5, multiplier: 1.0)],
    ])
    func invalidTierListsAreRefused(_ tiers: [PricingPolicy.Tier]) {
        #expect(throws: PricingPolicy.InvalidTiers.self) { try PricingPolicy(tiers: tiers) }
    }

    @Test func quoteIsThePriceOfTheNextSeat() {
        func event(available: Int) -> Event {
            Event(id: UUID(), name: "x", venue: "y", startsAt: Date(), totalCapacity: 10, availableSeats: available,
                  basePrice: 20, waitlistMode: .offer, status: .active, version: 1, createdBy: UUID(),
                  createdAt: Date(), updatedAt: Date())
        }
        #expect(PricingPolicy.standard.quote(event(available: 10)) == 20)
        #expect(PricingPolicy.standard.quote(event(available: 5)) == 25)
        #expect(PricingPolicy.standard.quote(event(available: 1)) == 30)
        #expect(PricingPolicy.standard.quote(event(available: 0)) == 30)
    }
}
