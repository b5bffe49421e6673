import BookingCore
import Foundation
import Workers

extension ConfReader {
    /// `[booking]`: the booking rules (defaults are ``BookingSettings``'s own).
    mutating func booking() throws(ConfigError) -> BookingSettings {
        var booking = BookingSettings()
        booking.maxQuantity = try integer("booking", "max_quantity", in: 1...10_000) ?? booking.maxQuantity
        booking.offerWindow = try duration("booking", "offer_window") ?? booking.offerWindow
        booking.pricing = try string("booking", "pricing_tiers", JobsConfig.pricing) ?? booking.pricing
        booking.combineMax = try integer("booking", "combine_max", in: 1...1_000) ?? booking.combineMax
        return booking
    }
}

extension JobsConfig {
    /// Reads "0.5:1.0, 0.8:1.25, 1.0:1.5": up to each sold fraction, seats cost base × multiplier.
    static func pricing(_ text: String) throws(ConfValue.ParseError) -> PricingPolicy {
        var tiers: [PricingPolicy.Tier] = []
        for pair in list(text) {
            let parts = pair.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let fraction = Decimal(string: parts[0]), let multiplier = Decimal(string: parts[1]) else {
                throw ConfValue.ParseError(message: "write tiers as \"sold_fraction:multiplier\" pairs, e.g. \"0.5:1.0, 1.0:1.5\"; found '\(pair)'")
            }
            tiers.append(PricingPolicy.Tier(upToSoldFraction: fraction, multiplier: multiplier))
        }
        do { return try PricingPolicy(tiers: tiers) } catch { throw ConfValue.ParseError(message: "\(error)") }
    }
}
