import PostgresNIO

extension PostgresConnection.Configuration {
    /// A connection of its own to the server and database `client` uses: for a session that
    /// must not be a pool lease (LISTEN). A client configuration's TLS settings cannot be read
    /// back, so they are given again as `tls` (unused over a unix socket).
    public init(sameServerAs client: PostgresClient.Configuration, tls: PostgresConnection.Configuration.TLS) {
        if let socket = client.unixSocketPath {
            self.init(unixSocketPath: socket, username: client.username, password: client.password, database: client.database)
        } else {
            self.init(host: client.host ?? "localhost", port: client.port ?? 5432, username: client.username,
                      password: client.password, database: client.database, tls: tls)
            options.tlsServerName = client.options.tlsServerName
        }
    }
}
