/// An HTTP entity tag (RFC 9110 §8.8.3): an opaque quoted string, strong or weak (`W/"…"`).
public struct EntityTag: Sendable, Hashable, CustomStringConvertible {
    /// The tag without quotes.
    public var opaque: String
    /// Whether it is a weak validator.
    public var isWeak: Bool

    /// A tag.
    public init(_ opaque: String, weak: Bool = false) {
        self.opaque = opaque
        self.isWeak = weak
    }

    /// A strong tag naming the exact bytes `body`: 128 bits of a fast non-cryptographic hash, in hex.
    public init(hashing body: [UInt8]) {
        let (a, b) = ContentHash.hash128(body)
        self.init(ContentHash.hex(a) + ContentHash.hex(b))
    }

    /// The header form: `"abc"` or `W/"abc"`.
    public var description: String { (isWeak ? "W/" : "") + "\"" + opaque + "\"" }

    /// Weak comparison (RFC 9110 §8.8.3.2): equal opaque tags, whatever their weakness.
    public func weaklyMatches(_ other: EntityTag) -> Bool { opaque == other.opaque }
}

/// A parsed `If-None-Match` (or `If-Match`) header: `*` or a list of entity tags.
public enum EntityTagCondition: Sendable, Equatable {
    /// `*`: any current representation.
    case any
    /// A list of tags.
    case tags([EntityTag])

    /// Parses every value of the header (several fields are one comma list). Lenient: unquoted tokens count
    /// as tags, garbage between commas is skipped. `nil` when no field is present.
    public init?(headerValues: [String]) {
        guard !headerValues.isEmpty else { return nil }
        var tags: [EntityTag] = []
        for value in headerValues {
            var rest = Substring(value)
            while true {
                rest = rest.drop { $0 == " " || $0 == "\t" || $0 == "," }
                if rest.isEmpty { break }
                if rest.first == "*" {
                    self = .any
                    return
                }
                var weak = false
                if rest.hasPrefix("W/") || rest.hasPrefix("w/") {
                    weak = true
                    rest = rest.dropFirst(2)
                }
                if rest.first == "\"" {
                    let body = rest.dropFirst()
                    guard let close = body.firstIndex(of: "\"") else {
                        tags.append(EntityTag(String(body), weak: weak))
                        break
                    }
                    tags.append(EntityTag(String(body[..<close]), weak: weak))
                    rest = body[body.index(after: close)...]
                } else {
                    let end = rest.firstIndex(of: ",") ?? rest.endIndex
                    let token = rest[..<end].trimmingSpaces()
                    if !token.isEmpty { tags.append(EntityTag(token, weak: weak)) }
                    rest = rest[end...]
                }
            }
        }
        self = .tags(tags)
    }

    /// Whether the condition matches the current representation's tag (weak comparison, as If-None-Match uses).
    public func weaklyMatches(_ current: EntityTag) -> Bool {
        switch self {
        case .any: true
        case .tags(let tags): tags.contains { $0.weaklyMatches(current) }
        }
    }
}

/// A fast, non-cryptographic 128-bit hash (two 64-bit lanes over 8-byte words, murmur3 finalizer).
enum ContentHash {
    static func hash128(_ bytes: [UInt8]) -> (UInt64, UInt64) {
        var h1: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var h2: UInt64 = 0xC2B2_AE3D_27D4_EB4F &+ UInt64(bytes.count)
        bytes.withUnsafeBytes { raw in
            let n = raw.count
            var i = 0
            while i + 8 <= n {
                let w = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                h1 = rotl((h1 ^ w) &* 0x87C3_7B91_1142_53D5, 31) &* 5 &+ 0x52DC_E729
                h2 = rotl((h2 &+ w) &* 0x4CF5_AD43_2745_937F, 33) &* 9 &+ 0x3849_5AB5
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(raw[i]) << shift
                shift += 8
                i += 1
            }
            h1 = rotl((h1 ^ tail) &* 0x87C3_7B91_1142_53D5, 31)
            h2 = rotl((h2 &+ tail) &* 0x4CF5_AD43_2745_937F, 33)
        }
        h1 &+= h2
        h2 &+= h1
        h1 = fmix(h1)
        h2 = fmix(h2)
        h1 &+= h2
        h2 &+= h1
        return (h1, h2)
    }

    @inline(__always) static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

    static func fmix(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k &*= 0xFF51_AFD7_ED55_8CCD
        k ^= k >> 33
        k &*= 0xC4CE_B9FE_1A85_EC53
        k ^= k >> 33
        return k
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
