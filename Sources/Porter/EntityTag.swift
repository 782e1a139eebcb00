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
    public var description: String {
        // One allocation (sent with every feed and image response).
        var text = ""
        text.reserveCapacity(opaque.utf8.count + 4)
        if isWeak { text += "W/" }
        text += "\""
        text += opaque
        text += "\""
        return text
    }

    /// Weak comparison (RFC 9110 §8.8.3.2): equal opaque tags, whatever their weakness.
    public func weaklyMatches(_ other: EntityTag) -> Bool { opaque == other.opaque }

    /// Strong comparison (RFC 9110 §8.8.3.2): both tags strong and their opaque tags equal.
    public func stronglyMatches(_ other: EntityTag) -> Bool { !isWeak && !other.isWeak && opaque == other.opaque }
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

    /// Whether the condition matches the current representation's tag (strong comparison, as If-Match uses).
    public func stronglyMatches(_ current: EntityTag) -> Bool {
        switch self {
        case .any: true
        case .tags(let tags): tags.contains { $0.stronglyMatches(current) }
        }
    }
}
