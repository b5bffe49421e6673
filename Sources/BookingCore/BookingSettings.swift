/// The booking rules the intake and the waitlist workers share, from jobs.conf `[booking]`.
public struct BookingSettings: Sendable {
    /// The most seats one booking may take.
    public var maxQuantity: Int
    /// How long a waitlist offer holds its seats.
    public var offerWindow: Duration
    public var pricing: PricingPolicy
    /// The most bookings of one event the intake commits in one transaction
    /// (``BookingStore/bookTogether(_:eventID:now:pricing:on:)``); 1 books each on its own.
    public var combineMax: Int

    public init(maxQuantity: Int = 10, offerWindow: Duration = .seconds(900), pricing: PricingPolicy = .standard,
                combineMax: Int = 64) {
        self.maxQuantity = maxQuantity
        self.offerWindow = offerWindow
        self.pricing = pricing
        self.combineMax = combineMax
    }
}
