import ArgumentParser
import Foundation

/// `evently-jobs console`: prints a sign-in link to the operators' web console of the
/// configured daemon, with a short-lived operator token in the URL fragment. Browsers never send
/// a fragment to the server, so the token appears in no request line and no log; the page moves
/// it into the tab's session storage and out of the address bar at once.
struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Print a sign-in link to the web console (an operator token in the URL fragment).",
        discussion: """
            The link points at http.host and http.port of the configuration unless --base-url says otherwise
            (a daemon behind a proxy or on another host). The token is signed with auth.jwt_secret.
            Example: evently-jobs console --ttl 30m
            """)

    @OptionGroup var options: ConfigOptions

    @Option(help: "Where the console is reached, e.g. https://jobs.example.org. Default: http://<http.host>:<http.port>.")
    var baseURL: String?

    @Option(help: "How long the link's token is valid: 5m, 15m, 1h (at most 12h).")
    var ttl: String = "15m"

    @Option(help: "admin or operator: admins also see bookings at a glance.")
    var role: String = "operator"

    func run() async throws {
        let config = try options.load()
        let secret = try TokenCommand.secret(of: config, path: options.config)
        guard ["operator", "admin"].contains(role) else { throw ValidationError("--role must be operator or admin") }
        guard let lifetime = ConfValue.parseDuration(ttl), lifetime > .zero, lifetime <= .seconds(12 * 3600) else {
            throw ValidationError("--ttl must be a duration from 1s to 12h, such as 15m")
        }
        let base: String
        if let baseURL {
            guard let url = URL(string: baseURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil,
                  url.query == nil, url.fragment == nil else {
                throw ValidationError("--base-url must be an http(s) URL without query or fragment, e.g. https://jobs.example.org")
            }
            base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        } else {
            guard config.http.enabled else {
                throw CommandFailure(message: "http.enabled is false in \(options.config): this daemon serves no console (give --base-url for another one)")
            }
            let host = config.http.host.contains(":") ? "[\(config.http.host)]" : config.http.host
            base = "http://\(host == "0.0.0.0" || host == "[::]" ? "127.0.0.1" : host):\(config.http.port)"
        }
        let userID = UUID()
        let token = try await TokenCommand.sign(secret: secret, intake: config.intake, userID: userID, role: role,
                                                email: "console-\(userID.uuidString.lowercased().prefix(8))@example.invalid",
                                                lifetime: lifetime)
        print("\(base)/console#token=\(token)")
    }
}
