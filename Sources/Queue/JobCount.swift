/// A capped count: `count` is exact unless `capped`, when there are more than `count`, or
/// `partial`, when a text search counted only the newest jobs (ids from `searchedFromID` up)
/// within its time budget and older ones may match too.
public struct JobCount: Sendable, Equatable, Codable {
    public var count: Int
    public var capped: Bool
    public var partial: Bool
    /// The oldest job id a partial count read; `nil` when it read everything.
    public var searchedFromID: Int64?

    public init(count: Int, capped: Bool, partial: Bool = false, searchedFromID: Int64? = nil) {
        self.count = count
        self.capped = capped
        self.partial = partial
        self.searchedFromID = searchedFromID
    }

    enum CodingKeys: String, CodingKey {
        case count, capped, partial
        case searchedFromID = "searched_from_id"
    }
}
