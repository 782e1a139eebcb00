import Glibc

/// An IPv4 or IPv6 address as its bytes: the one parser for the addresses Porter reads as text (`REMOTE_ADDR`, a
/// `Host` header's `[::1]`, `allowed_peers` entries, listen hosts), so every check agrees on what is loopback.
///
/// Parsing is `inet_pton(3)`'s: dotted-quad IPv4 only (no `127.1`, no leading zeros), any IPv6 spelling
/// (`::1`, `::0:1`, `0:0:0:0:0:0:0:1`, `::ffff:127.0.0.1`), IPv6 optionally in brackets.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// The address with these bytes; `nil` unless there are 4 or 16.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses `text`: dotted-quad IPv4, or IPv6 with or without `[` `]`; `nil` for anything else (names included).
    public init?(_ text: some StringProtocol) {
        var s = Substring(text)
        if s.first == "[" {
            guard s.last == "]" else { return nil }
            s = s.dropFirst().dropLast()
        }
        // Only the characters an address is written with: inet_pton reads a C string, so a NUL would end it early
        // (`127.0.0.1\0.evil` must not parse as 127.0.0.1).
        guard !s.isEmpty, s.utf8.count <= 45, s.utf8.allSatisfy({ b in
            (b >= 0x30 && b <= 0x3A) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66) || b == 0x2E
        }) else { return nil }
        if s.utf8.contains(UInt8(ascii: ":")) {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, String(s), &raw) == 1 else { return nil }
            bytes = withUnsafeBytes(of: raw) { Array($0) }
        } else {
            guard text.first != "[" else { return nil }
            var raw = in_addr()
            guard inet_pton(AF_INET, String(s), &raw) == 1 else { return nil }
            bytes = withUnsafeBytes(of: raw) { Array($0) }
        }
    }

    /// Whether this is IPv4 (4 bytes).
    public var isIPv4: Bool { bytes.count == 4 }

    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it carries; any other address unchanged.
    public var unmapped: IPAddress {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return self }
        return IPAddress(uncheckedBytes: Array(bytes[12..<16]))
    }

    /// Whether this is a loopback address: `127.0.0.0/8`, `::1`, or `127.x.y.z` mapped into IPv6.
    public var isLoopback: Bool {
        let plain = unmapped
        if plain.isIPv4 { return plain.bytes[0] == 127 }
        return plain.bytes[0..<15].allSatisfy { $0 == 0 } && plain.bytes[15] == 1
    }

    /// Whether the first `prefixLength` bits equal `network`'s (`false` across address families).
    public func isIn(_ network: IPAddress, prefixLength: Int) -> Bool {
        guard bytes.count == network.bytes.count else { return false }
        var bits = prefixLength
        var i = 0
        while bits > 0, i < bytes.count {
            let mask: UInt8 = bits >= 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[i] & mask != network.bytes[i] & mask { return false }
            bits -= 8
            i += 1
        }
        return true
    }

    /// The client a per-client limit counts: IPv4 (mapped or not) in dotted form, IPv6 by its /64 network as 16 hex
    /// digits and `/64` (one host is given a whole /64, so counting each address let one host be millions of clients).
    public var clientKey: String {
        let plain = unmapped
        if plain.isIPv4 { return plain.description }
        return Hex.encode(plain.bytes[0..<8]) + "/64"
    }

    /// The canonical text (`inet_ntop(3)`): `127.0.0.1`, `::1`, `2001:db8::1`.
    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = isIPv4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { raw in inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
        guard ok else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private init(uncheckedBytes: [UInt8]) { bytes = uncheckedBytes }
}
