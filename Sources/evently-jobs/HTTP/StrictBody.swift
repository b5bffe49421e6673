/// A request body type that lists the fields it accepts, so unknown ones are refused by name
/// (see `Request.decodeStrict`).
protocol StrictBody: Decodable {
    static var fields: Set<String> { get }
}
