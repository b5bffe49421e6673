/// Which waiting entries a promotion serves: the pure decision, apart from its SQL.
public enum WaitlistPromotion {
    /// Walks `quantities` (entries in line order) and takes each one that still fits in
    /// `freeSeats`, skipping one that does not and going on to later, smaller ones. Returns the
    /// indices taken, in line order.
    ///
    /// Skipping keeps seats from idling behind a large request; the skipped entry keeps its
    /// place and is first in line when enough seats free up.
    public static func pick(quantities: [Int], freeSeats: Int) -> [Int] {
        var remaining = freeSeats
        var picked: [Int] = []
        for (index, quantity) in quantities.enumerated() where remaining > 0 {
            if quantity > 0, quantity <= remaining {
                picked.append(index)
                remaining -= quantity
            }
        }
        return picked
    }
}
