import Foundation
import Queue

/// A `database.url` that names several hosts, as libpq's connection URIs do:
/// `postgres://user:secret@h1:5432,h2:5433/evently?target_session_attrs=read-write`.
///
/// The daemon writes, so only a writable host will do: `target_session_attrs` may be
/// `read-write` (the default here, where libpq's is `any`) or `primary`; the read-only choices
/// belong to `database.replica_url`.
struct DatabaseHosts: Sendable, Equatable {
    struct Host: Sendable, Hashable, CustomStringConvertible {
        var name: String
        var port: Int
        var description: String { name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)" }
        var isIPAddress: Bool { name.isIPAddress }
    }

    /// `target_session_attrs`: which host will do.
    enum Requirement: String, Sendable {
        /// Takes writes: not in recovery and not `default_transaction_read_only`.
        case readWrite = "read-write"
        /// Not in recovery (a primary), as libpq's `primary`, even if read-only by default.
        case primary
    }

    var hosts: [Host]
    var requirement: Requirement
    /// The URL up to the host list (`postgres://user:secret@`) and after it (`/evently?…`,
    /// without `target_session_attrs`).
    private var prefix: String
    private var suffix: String

    /// The same database through one `host:port`: the local relay, or one of the hosts.
    func url(through host: Host) -> String { prefix + host.description + suffix }

    /// `nil` when the URL names one host (or a unix socket): nothing to choose between.
    static func parse(_ url: String) throws(ConfValue.ParseError) -> DatabaseHosts? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let afterScheme = url[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
        let authority = afterScheme[..<authorityEnd]
        let hostsStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostList = authority[hostsStart...]
        guard hostList.contains(",") else { return nil }

        var hosts: [Host] = []
        for item in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            hosts.append(try host(item))
        }
        var rest = String(afterScheme[authorityEnd...])
        var attributes = "read-write"
        var sslmode: Substring = "prefer"
        if let queryStart = rest.firstIndex(of: "?") {
            var kept: [Substring] = []
            for pair in rest[rest.index(after: queryStart)...].split(separator: "&") {
                if pair.hasPrefix("sslmode=") { sslmode = pair.dropFirst("sslmode=".count) }
                if pair.hasPrefix("target_session_attrs=") {
                    attributes = String(pair.dropFirst("target_session_attrs=".count))
                } else if pair.hasPrefix("host=") || pair.hasPrefix("hostaddr=") || pair.hasPrefix("port=") {
                    throw ConfValue.ParseError(message: "names its hosts twice: in the host list and in '\(pair.prefix { $0 != "=" })='")
                } else {
                    kept.append(pair)
                }
            }
            rest = String(rest[..<queryStart]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
        }
        guard let requirement = Requirement(rawValue: attributes) else {
            throw ConfValue.ParseError(message: """
                target_session_attrs=\(attributes) is not supported with several hosts: the daemon writes, so it needs \
                read-write (the default) or primary; read-only copies go in database.replica_url
                """)
        }
        guard Set(hosts).count == hosts.count else {
            throw ConfValue.ParseError(message: "names the same host twice")
        }
        // The relay in between makes every server look like 127.0.0.1 to the TLS client, which
        // then checks an address certificate against that; a name is checked as a name.
        if sslmode != "disable", let address = hosts.first(where: \.isIPAddress) {
            throw ConfValue.ParseError(message: """
                names \(address) by address with sslmode=\(sslmode): through the failover relay TLS can check only host \
                names; name the hosts, or set sslmode=disable on a private network
                """)
        }
        return DatabaseHosts(hosts: hosts, requirement: requirement, prefix: String(url[..<hostsStart]), suffix: rest)
    }

    /// `name`, `name:port`, `[v6]` or `[v6]:port`; the port defaults to 5432 as in libpq.
    private static func host(_ text: Substring) throws(ConfValue.ParseError) -> Host {
        let name: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ConfValue.ParseError(message: "host '\(text)' has no closing ']'") }
            name = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw ConfValue.ParseError(message: "host '\(text)': expected ':port' after ']'") }
                portText = after.dropFirst()
            }
        } else if let colon = text.firstIndex(of: ":") {
            name = text[..<colon]
            portText = text[text.index(after: colon)...]
        } else {
            name = text
        }
        guard !name.isEmpty else { throw ConfValue.ParseError(message: "an empty host in the host list") }
        guard let portText else { return Host(name: String(name), port: 5432) }
        guard let port = Int(portText), (1...65_535).contains(port) else {
            throw ConfValue.ParseError(message: "host '\(text)': '\(portText)' is not a port")
        }
        return Host(name: String(name), port: port)
    }
}
