#if canImport(Glibc)
import Glibc
#endif

extension String {
    /// An IPv4 or IPv6 address literal rather than a host name (TLS server names and
    /// certificate names are host names).
    public var isIPAddress: Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, self, &v4) == 1 || inet_pton(AF_INET6, self, &v6) == 1
    }
}
