import CFastCGI
import Glibc
public import Porter

/// The peers a TCP listener serves (libfcgi's `FCGI_WEB_SERVER_ADDRS`, with CIDRs and IPv6): addresses or
/// networks like `10.0.0.5`, `10.0.0.0/24`, `::1`, `fd00::/8`. Connections from other addresses are closed at
/// accept; unix-socket peers are never filtered (file permissions guard those).
public struct PeerAllowlist: Sendable, Equatable, CustomStringConvertible {
    /// One allowed network: address bytes (4 or 16) and prefix length.
    public struct Network: Sendable, Equatable, CustomStringConvertible {
        /// The network's address bytes (4 for IPv4, 16 for IPv6).
        public let address: [UInt8]
        /// How many leading bits must match.
        public let prefixLength: Int
        /// The entry as written (`10.0.0.0/24`).
        public let text: String

        /// Parses `address` or `address/prefix` (IPv4 or IPv6).
        public init(parsing text: String) throws(ConfigurationError) {
            let trimmed = text.trimmingSpaces()
            let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let bytes = Self.parseAddress(String(parts[0])) else {
                throw ConfigurationError("allowed_peers: \"\(text)\" is not an IPv4/IPv6 address or CIDR (e.g. 10.0.0.0/24, fd00::/8)")
            }
            let maxBits = bytes.count * 8
            var prefix = maxBits
            if parts.count == 2 {
                guard let p = Int(parts[1]), (0...maxBits).contains(p), !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber) else {
                    throw ConfigurationError("allowed_peers: \"\(text)\": prefix length must be 0...\(maxBits)")
                }
                prefix = p
            }
            self.address = bytes
            self.prefixLength = prefix
            self.text = trimmed
        }

        /// Whether `peer` (4 or 16 bytes) lies in this network.
        func contains(_ peer: [UInt8]) -> Bool {
            guard peer.count == address.count else { return false }
            var bits = prefixLength
            var i = 0
            while bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if peer[i] & mask != address[i] & mask { return false }
                bits -= 8
                i += 1
            }
            return true
        }

        static func parseAddress(_ s: String) -> [UInt8]? {
            var v4 = in_addr()
            if s.contains("."), !s.contains(":"), inet_pton(AF_INET, s, &v4) == 1 {
                return withUnsafeBytes(of: &v4) { Array($0) }
            }
            var v6 = in6_addr()
            var text = s
            if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
            if text.contains(":"), inet_pton(AF_INET6, text, &v6) == 1 {
                return withUnsafeBytes(of: &v6) { Array($0) }
            }
            return nil
        }

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

    /// Whether a peer with these address bytes (4 or 16; IPv4-mapped IPv6 counts as IPv4) is allowed.
    public func allows(_ peer: [UInt8]) -> Bool {
        let normalized = Self.unmapped(peer)
        return networks.contains { $0.contains(normalized) || $0.contains(peer) }
    }

    /// Whether the textual address `peer` is allowed (false if it does not parse).
    public func allows(address peer: String) -> Bool {
        guard let bytes = Network.parseAddress(peer) else { return false }
        return allows(bytes)
    }

    /// `::ffff:a.b.c.d` → `a.b.c.d`; other addresses unchanged.
    static func unmapped(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return Array(bytes[12..<16])
        }
        return bytes
    }

    /// Whether a listen host is loopback only (`127.x`, `::1`, `localhost`): such a listener needs no allowlist.
    public static func isLoopback(host: String) -> Bool {
        if host == "localhost" { return true }
        guard let bytes = Network.parseAddress(host) else { return false }
        let b = unmapped(bytes)
        if b.count == 4 { return b[0] == 127 }
        return b == [UInt8](repeating: 0, count: 15) + [1]
    }

    public var description: String { networks.map(\.text).joined(separator: ",") }
}

/// The peer check the accept path runs: `nil` means the peer may be served, else the refused address.
enum PeerCheck {
    /// Reads `fd`'s peer address; TCP peers outside `allowlist` are refused (their address returned).
    static func refusedPeer(_ fd: Int32, allowlist: PeerAllowlist) -> String? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) == 0 }
        }
        guard ok else { return "unknown" }   // cannot tell who it is: refuse
        switch Int32(storage.ss_family) {
        case AF_INET:
            let bytes: [UInt8] = withUnsafeBytes(of: &storage) { raw in
                let sin = raw.load(as: sockaddr_in.self)
                return withUnsafeBytes(of: sin.sin_addr) { Array($0) }
            }
            return allowlist.allows(bytes) ? nil : text(AF_INET, bytes)
        case AF_INET6:
            let bytes: [UInt8] = withUnsafeBytes(of: &storage) { raw in
                let sin6 = raw.load(as: sockaddr_in6.self)
                return withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
            }
            return allowlist.allows(bytes) ? nil : text(AF_INET6, bytes)
        default:
            return nil   // unix socket: guarded by the socket file's permissions
        }
    }

    static func text(_ family: Int32, _ bytes: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: 64)
        _ = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &out, 64) }
        return String(cString: out)
    }
}
