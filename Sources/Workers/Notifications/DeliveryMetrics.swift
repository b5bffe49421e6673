import Metrics

/// `evently_deliveries_total{channel, outcome}`: what became of each attempt to deliver a
/// notification. `sent` once the provider took it, `skipped` when the channel is off or the
/// recipient has no address for it, `failed` for a refusal for good or a last attempt that
/// failed, `retry` for a failure the queue tries again.
public struct DeliveryMetrics: Sendable {
    public enum Outcome: String, CaseIterable, Sendable {
        case sent, failed, skipped, retry
    }

    private let counters: [Outcome: Counter]

    /// - Parameter channel: `email` or `sms`.
    public init(channel: String, factory: any MetricsFactory = MetricsSystem.factory) {
        var counters: [Outcome: Counter] = [:]
        for outcome in Outcome.allCases {
            counters[outcome] = Counter(label: "evently_deliveries_total",
                                        dimensions: [("channel", channel), ("outcome", outcome.rawValue)], factory: factory)
        }
        self.counters = counters
    }

    func record(_ outcome: Outcome) {
        counters[outcome]?.increment()
    }
}
