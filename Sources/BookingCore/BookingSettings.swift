/// The booking rules the intake and the waitlist workers share, from jobs.conf `[booking]`.
public struct BookingSettings: Sendable {
    /// The most seats one booking may take.
    public var maxQuantity: Int
    /// How long a waitlist offer holds its seats.
    public var offerWindow: Duration
    public var pricing: PricingPolicy

    public init(maxQuantity: Int = 10, offerWindow: Duration = .seconds(900), pricing: PricingPolicy = .standard) {
        self.maxQuantity = maxQuantity
        self.offerWindow = offerWindow
        self.pricing = pricing
    }
}
