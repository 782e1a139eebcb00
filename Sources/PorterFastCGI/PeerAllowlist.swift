import CFastCGI
import Glibc
public import Porter

/// The peers a TCP listener serves (libfcgi's `FCGI_WEB_SERVER_ADDRS`, with CIDRs and IPv6): addresses or
/// networks like `10.0.0.5`, `10.0.0.0/24`, `::1`, `fd00::/8`. Connections from other addresses are closed at
/// accept; unix-socket peers are never filtered (file permissions guard those).
public struct PeerAllowlist: Sendable, Equatable, CustomStringConvertible {
    /// One allowed network: an address and a prefix length.
    public struct Network: Sendable, Equatable, CustomStringConvertible {
        /// The network's address.
        public let address: IPAddress
        /// How many leading bits must match.
        public let prefixLength: Int
        /// The entry as written (`10.0.0.0/24`).
        public let text: String

        /// Parses `address` or `address/prefix` (IPv4 or IPv6).
        public init(parsing text: String) throws(ConfigurationError) {
            let trimmed = text.trimmingSpaces()
            let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let address = IPAddress(parts[0]) else {
                throw ConfigurationError("allowed_peers: \"\(text)\" is not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/24, fd00::/8)")
            }
            let maxBits = address.bytes.count * 8
            var prefix = maxBits
            if parts.count == 2 {
                guard let p = Int(parts[1]), (0...maxBits).contains(p), !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber) else {
                    throw ConfigurationError("allowed_peers: \"\(text)\": prefix length must be 0...\(maxBits)")
                }
                prefix = p
            }
            self.address = address
            self.prefixLength = prefix
            self.text = trimmed
        }

        /// Whether `peer` lies in this network.
        func contains(_ peer: IPAddress) -> Bool { peer.isIn(address, prefixLength: prefixLength) }

        public var description: String { text }
    }

    /// The allowed networks (empty: nobody).
    public let networks: [Network]

    /// An allowlist of the given networks.
    public init(_ networks: [Network]) { self.networks = networks }

    /// Parses entries (each an address or CIDR); also splits entries on commas and spaces, so libfcgi's
    /// `FCGI_WEB_SERVER_ADDRS="10.0.0.1,10.0.0.2"` reads the same.
    public init(parsing entries: [String]) throws(ConfigurationError) {
        var networks: [Network] = []
        for entry in entries {
            for piece in entry.split(whereSeparator: { $0 == "," || $0 == " " }) where !piece.isEmpty {
                networks.append(try Network(parsing: String(piece)))
            }
        }
        guard !networks.isEmpty else { throw ConfigurationError("allowed_peers is empty: list at least one address or CIDR") }
        self.networks = networks
    }

    /// Whether `peer` is allowed (IPv4-mapped IPv6 counts as IPv4 too).
    public func allows(_ peer: IPAddress) -> Bool {
        let plain = peer.unmapped
        return networks.contains { $0.contains(plain) || $0.contains(peer) }
    }

    /// Whether the textual address `peer` is allowed (false if it does not parse).
    public func allows(address peer: String) -> Bool {
        guard let address = IPAddress(peer) else { return false }
        return allows(address)
    }

    /// Whether a listen host is loopback only (`127.x`, `::1`, `localhost`): such a listener needs no allowlist.
    public static func isLoopback(host: String) -> Bool {
        host == "localhost" || IPAddress(host)?.isLoopback == true
    }

    public var description: String { networks.map(\.text).joined(separator: ",") }
}

/// The peer check the accept path runs: `nil` means the peer may be served, else the refused address.
enum PeerCheck {
    /// Reads `fd`'s peer address; TCP peers outside `allowlist` are refused (their address returned).
    static func refusedPeer(_ fd: Int32, allowlist: PeerAllowlist) -> String? {
        switch socketAddress(fd, peer: true) {
        case nil: return "unknown"   // cannot tell who it is: refuse
        case .notIP?: return nil     // unix socket: guarded by the socket file's permissions
        case .ip(let peer)?: return allowlist.allows(peer) ? nil : peer.description
        }
    }

    /// What a socket's own or peer address is.
    enum SocketAddress: Equatable {
        /// An IPv4 or IPv6 address.
        case ip(IPAddress)
        /// Not an IP socket (unix).
        case notIP
    }

    /// `fd`'s peer address (`getpeername`) or its own (`getsockname`); nil when it cannot be read.
    static func socketAddress(_ fd: Int32, peer: Bool) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &length) == 0 : getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return nil }
        let bytes: [UInt8]
        switch Int32(storage.ss_family) {
        case AF_INET:
            bytes = withUnsafeBytes(of: &storage) { raw in withUnsafeBytes(of: raw.load(as: sockaddr_in.self).sin_addr) { Array($0) } }
        case AF_INET6:
            bytes = withUnsafeBytes(of: &storage) { raw in withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) } }
        default:
            return .notIP
        }
        return IPAddress(bytes: bytes).map(SocketAddress.ip)
    }
}
