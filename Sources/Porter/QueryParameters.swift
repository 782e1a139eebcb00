/// Ordered name/value pairs from a query string or an `application/x-www-form-urlencoded` body.
public struct QueryParameters: Sendable, Sequence, Equatable {
    /// The decoded pairs, in order; a name may repeat.
    public private(set) var pairs: [(name: String, value: String)]

    /// No parameters.
    public init() { pairs = [] }

    /// Parses `a=1&b=two+words&c=%41`: `+` is a space, `%XX` is a byte, malformed escapes are kept literally,
    /// and bytes that are not UTF-8 become U+FFFD.
    public init(parsing encoded: some StringProtocol) {
        pairs = []
        // Part by part over the UTF-8 bytes (no array of parts, no Character steps, no String index checks): a query
        // string is parsed for every request that has one.
        let parse = { (bytes: UnsafeBufferPointer<UInt8>) -> [(name: String, value: String)] in
            var pairs: [(name: String, value: String)] = []
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
                if start < end {
                    var eq = start
                    while eq < end && bytes[eq] != UInt8(ascii: "=") { eq += 1 }
                    let name = PercentEncoding.decode(UnsafeBufferPointer(rebasing: bytes[start..<eq]), plusAsSpace: true)
                    let value = eq < end
                        ? PercentEncoding.decode(UnsafeBufferPointer(rebasing: bytes[(eq + 1)..<end]), plusAsSpace: true) : ""
                    pairs.append((name, value))
                }
                start = end + 1
            }
            return pairs
        }
        pairs = encoded.utf8.withContiguousStorageIfAvailable(parse) ?? Array(encoded.utf8).withUnsafeBufferPointer(parse)
    }

    /// The value for `name`, matched ignoring ASCII case; repeated names give their values joined with commas
    /// (ASP.NET's `NameValueCollection`); nil when absent. Use `values(for:)` for the separate values.
    public subscript(name: String) -> String? {
        var found: String?
        for pair in pairs where Self.sameName(pair.name, name) {
            found = found.map { $0 + "," + pair.value } ?? pair.value
        }
        return found
    }

    /// Every value for `name` (matched ignoring ASCII case), in order.
    public func values(for name: String) -> [String] { pairs.filter { Self.sameName($0.name, name) }.map(\.value) }

    /// Appends a pair.
    public mutating func append(_ name: String, _ value: String) { pairs.append((name, value)) }

    /// ASCII case-insensitive name comparison (ASP.NET's `OrdinalIgnoreCase` for ASCII names).
    static func sameName(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        guard a.utf8.count == b.utf8.count else { return false }
        return zip(a.utf8, b.utf8).allSatisfy { x, y in
            x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
        }
    }

    public var isEmpty: Bool { pairs.isEmpty }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { pairs.makeIterator() }

    public static func == (lhs: QueryParameters, rhs: QueryParameters) -> Bool {
        lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0 == $1 }
    }
}

/// Percent-encoding helpers for URLs, queries and cookies.
public enum PercentEncoding {
    /// Decodes `%XX` escapes (and `+` as space when asked); invalid escapes stay as written.
    public static func decode(_ text: some StringProtocol, plusAsSpace: Bool = false) -> String {
        text.utf8.withContiguousStorageIfAvailable { decode($0, plusAsSpace: plusAsSpace) }
            ?? Array(text.utf8).withUnsafeBufferPointer { decode($0, plusAsSpace: plusAsSpace) }
    }

    /// Decodes `%XX` escapes (and `+` as space when asked) in UTF-8 bytes; invalid escapes stay as written, bytes that
    /// are not UTF-8 become U+FFFD.
    public static func decode(_ utf8: UnsafeBufferPointer<UInt8>, plusAsSpace: Bool = false) -> String {
        // Most names and values have nothing to decode: one copy into the String.
        guard utf8.contains(where: { $0 == UInt8(ascii: "%") || (plusAsSpace && $0 == UInt8(ascii: "+")) }) else {
            return String(decoding: utf8, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count)
        var i = 0
        while i < utf8.count {
            let byte = utf8[i]
            if byte == UInt8(ascii: "%"), i + 2 < utf8.count,
               let hi = hexValue(utf8[i + 1]), let lo = hexValue(utf8[i + 2]) {
                out.append(hi << 4 | lo)
                i += 3
            } else if plusAsSpace && byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
                i += 1
            } else {
                out.append(byte)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes everything but RFC 3986 unreserved characters.
    public static func encode(_ text: String) -> String {
        encode(text) { _ in false }
    }

    /// Encodes a decoded path for use in a URL: keeps `/` and the other RFC 3986 path characters
    /// (unreserved, sub-delims, `:`, `@`).
    public static func encodePath(_ path: String) -> String {
        encode(path) { "/!$&'()*+,;=:@".utf8.contains($0) }
    }

    /// Encodes every byte of `text` but unreserved characters and those `alsoKeep` accepts.
    static func encode(_ text: String, alsoKeep: (UInt8) -> Bool) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case _ where alsoKeep(byte):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 0xF)]))
            }
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
