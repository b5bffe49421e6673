import HTTPTypes
import Metrics
import Queue

/// `evently_bookings_total{outcome}` for `POST /v1/bookings`: `confirmed` (201, new),
/// `replayed` (201 for an Idempotency-Key seen before), `sold_out` (409) and `shed` (503: the
/// event's row was too busy, or the database did not answer in time or is away).
/// Other refusals (bad input, auth, a key in flight) are not booking outcomes.
struct BookingMetrics: Sendable {
    enum Outcome: String, CaseIterable {
        case confirmed, soldOut = "sold_out", replayed, shed
    }

    private let counters: [Outcome: Counter]

    init(factory: any MetricsFactory = MetricsSystem.factory) {
        var counters: [Outcome: Counter] = [:]
        for outcome in Outcome.allCases {
            counters[outcome] = Counter(label: "evently_bookings_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        self.counters = counters
    }

    func record(_ outcome: Outcome) {
        counters[outcome]?.increment()
    }

    /// Counts the error a booking request ended with, when it is one of the outcomes.
    func record(failure error: any Error) {
        if let error = error as? APIError {
            if error.status == .serviceUnavailable {
                record(.shed)
            } else if error.code == "sold_out" {
                record(.soldOut)
            }
        } else if error is DeadlineExceeded || DatabaseUnavailable.matches(error) {
            record(.shed)
        }
    }
}
