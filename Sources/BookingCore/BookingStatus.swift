import Foundation

/// Where a booking is in its life.
public enum BookingStatus: String, Sendable, Codable, Hashable {
    case confirmed
    case cancelled
    case refunded
}
