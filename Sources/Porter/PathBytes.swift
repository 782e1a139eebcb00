import Glibc

/// Request paths compared the way nginx compares them: as bytes, with `/` (0x2F) the only separator and only ASCII
/// letters folded for case.
///
/// Swift's `String` operations (`hasPrefix`, `==`, `split(separator:)`) work on grapheme clusters under canonical
/// equivalence: `/` followed by a combining mark (U+0301, a ZWJ, a variation selector) is one `Character` that is not
/// `"/"`. A path nginx splits at that slash (`/private/%CC%81/../note.txt` is `/private/note.txt` to nginx) would not
/// be split by them, so a routing or authorization decision made on `String`s can differ from the file nginx serves.
/// Every decision about where a path leads uses these instead.
public enum PathBytes {
    /// Whether `path` starts with `prefix`, byte for byte.
    public static func hasPrefix(_ path: String, _ prefix: String) -> Bool {
        path.withUTF8Bytes { p in prefix.withUTF8Bytes { q in p.count >= q.count && same(p, q, q.count) } }
    }

    /// Whether `path` and `other` are the same bytes.
    public static func equals(_ path: String, _ other: String) -> Bool {
        // Lengths first (constant time for native strings); every request to an exact route asks this.
        path.utf8.count == other.utf8.count && path.withUTF8Bytes { p in other.withUTF8Bytes { q in same(p, q, q.count) } }
    }

    /// Whether the first `count` bytes of `a` and `b` are equal (memcmp: a generic `elementsEqual` steps an iterator).
    private static func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>, _ count: Int) -> Bool {
        count == 0 || memcmp(a.baseAddress!, b.baseAddress!, count) == 0
    }

    /// Whether `path` starts with `prefix`, ASCII letters compared without case (other bytes exactly).
    public static func hasPrefixIgnoringASCIICase(_ path: String, _ prefix: String) -> Bool {
        path.withUTF8Bytes { p in
            prefix.withUTF8Bytes { q in p.count >= q.count && String.asciiCaseInsensitiveEqual(p, q, count: q.count) }
        }
    }

    /// Collapses repeated slashes, resolves `.` and `..` segments (as nginx does before choosing a location; `..` above
    /// the root stays at the root) and drops a trailing slash (except for `/`). Splits at every 0x2F byte.
    public static func normalize(_ path: String) -> String {
        path.withUTF8Bytes { p in
            var segments: [ArraySlice<UInt8>] = []
            let bytes = Array(p)
            for segment in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
                if segment.elementsEqual([UInt8(ascii: ".")]) { continue }
                if segment.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) { _ = segments.popLast(); continue }
                segments.append(segment)
            }
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + 1)
            for segment in segments {
                out.append(UInt8(ascii: "/"))
                out.append(contentsOf: segment)
            }
            return out.isEmpty ? "/" : String(decoding: out, as: UTF8.self)
        }
    }
}
