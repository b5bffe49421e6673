import Foundation

/// Dynamic pricing by sell-through: the more of an event is taken, the more the next seat costs.
///
/// Pure: it sees only counts and the base price. Each seat is priced by the tier its position
/// falls in, where a seat's position is the share of the capacity taken before it (seat 0 of
/// 100 is at 0.00, seat 50 at 0.50). So a booking that straddles a tier boundary pays the lower
/// price for the seats below it and the higher one above. Seats held by waitlist offers count as
/// taken.
public struct PricingPolicy: Sendable, Equatable {
    /// Seats whose position is below `upToSoldFraction` (and at or above the previous tier's)
    /// cost `multiplier` times the base price.
    public struct Tier: Sendable, Equatable {
        public var upToSoldFraction: Decimal
        public var multiplier: Decimal

        public init(upToSoldFraction: Decimal, multiplier: Decimal) {
            self.upToSoldFraction = upToSoldFraction
            self.multiplier = multiplier
        }

        /// From configuration numbers: the doubles go through their shortest decimal text, so
        /// `0.7` is exactly 0.7 and not 0.6999999999999999555910790149937.
        public init(upToSoldFraction: Double, multiplier: Double) {
            self.init(upToSoldFraction: Decimal(string: "\(upToSoldFraction)") ?? Decimal(upToSoldFraction),
                      multiplier: Decimal(string: "\(multiplier)") ?? Decimal(multiplier))
        }
    }

    /// Why a list of tiers was refused.
    public struct InvalidTiers: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Ascending by `upToSoldFraction`; the last reaches 1.
    public let tiers: [Tier]

    /// - Throws: ``InvalidTiers`` unless there is at least one tier, fractions rise strictly
    ///   within (0, 1] and end at 1, and every multiplier is positive.
    public init(tiers: [Tier]) throws {
        guard let last = tiers.last else { throw InvalidTiers(description: "pricing needs at least one tier") }
        for (index, tier) in tiers.enumerated() {
            guard tier.upToSoldFraction > 0, tier.upToSoldFraction <= 1 else {
                throw InvalidTiers(
                    description: "tier \(index + 1): up_to must be above 0 and at most 1, found \(tier.upToSoldFraction)")
            }
            if index > 0, tier.upToSoldFraction <= tiers[index - 1].upToSoldFraction {
                throw InvalidTiers(description: "tier \(index + 1): up_to must be larger than the previous tier's")
            }
            guard tier.multiplier > 0 else {
                throw InvalidTiers(description: "tier \(index + 1): the multiplier must be positive, found \(tier.multiplier)")
            }
        }
        guard last.upToSoldFraction == 1 else {
            throw InvalidTiers(description: "the last tier must reach 1 (the whole capacity), found \(last.upToSoldFraction)")
        }
        self.tiers = tiers
    }

    /// Tiers known to be valid (the built-in policies below).
    private init(checked tiers: [Tier]) {
        self.tiers = tiers
    }

    /// Every seat at the base price.
    public static let flat = PricingPolicy(checked: [Tier(upToSoldFraction: 1.0, multiplier: 1.0)])

    /// Base price for the first half, +25 % up to 80 % sold, +50 % for the last fifth.
    public static let standard = PricingPolicy(checked: [
        Tier(upToSoldFraction: 0.5, multiplier: 1.0),
        Tier(upToSoldFraction: 0.8, multiplier: 1.25),
        Tier(upToSoldFraction: 1.0, multiplier: 1.5),
    ])

    /// The price of the seat at `position` (0-based: seats taken before it) of `capacity`,
    /// rounded to cents.
    public func price(ofSeatAt position: Int, capacity: Int, basePrice: Decimal) -> Decimal {
        Money.roundedToCents(basePrice * multiplier(ofSeatAt: position, capacity: capacity))
    }

    /// The multiplier of the tier the seat at `position` falls in.
    public func multiplier(ofSeatAt position: Int, capacity: Int) -> Decimal {
        guard capacity > 0 else { return tiers[tiers.count - 1].multiplier }
        // position / capacity < upTo  ⇔  position < upTo · capacity, exact in Decimal.
        let seat = Decimal(max(0, position))
        let total = Decimal(capacity)
        return tiers.first { seat < $0.upToSoldFraction * total }?.multiplier ?? tiers[tiers.count - 1].multiplier
    }

    /// What `quantity` seats cost when `soldBefore` seats of `capacity` are taken: the sum of
    /// each seat's rounded price.
    public func total(quantity: Int, soldBefore: Int, capacity: Int, basePrice: Decimal) -> Decimal {
        var sum = Decimal(0)
        for offset in 0..<max(0, quantity) {
            sum += price(ofSeatAt: soldBefore + offset, capacity: capacity, basePrice: basePrice)
        }
        return sum
    }

    /// The price of the next seat of `event`, for display; the last tier's price when sold out.
    public func quote(_ event: Event) -> Decimal {
        price(ofSeatAt: min(event.takenSeats, max(0, event.totalCapacity - 1)), capacity: event.totalCapacity,
              basePrice: event.basePrice)
    }
}
