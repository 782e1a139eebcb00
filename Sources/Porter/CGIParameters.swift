import Glibc

/// A request's FastCGI parameters (CGI variables: `REQUEST_METHOD`, `HTTP_HOST`, `REMOTE_ADDR`, …), in the order
/// nginx sent them; Go's `ProcessEnv`, ASP.NET's `ServerVariables`. Names are exact (case-sensitive); when a name
/// was sent twice, the last value counts (as PHP-FPM does).
///
/// Stored as one contiguous byte buffer (one allocation per request); a value becomes a `String` only when it
/// is looked up, so the ~30 parameters nginx sends cost nothing until someone reads them.
public struct CGIParameters: Sendable, Sequence, ExpressibleByDictionaryLiteral, Equatable, CustomStringConvertible {
    /// Entries back to back: name length (UInt16, little-endian), value length (UInt32, little-endian), name, value.
    private var storage: [UInt8]
    /// The number of entries stored, repeats included.
    private var entries: Int
    /// False when no name can occur twice (then every entry is its name's last and a lookup stops at the first match).
    private var mayRepeat = true

    private static let entryHeader = 6

    /// No parameters.
    public init() {
        storage = []
        entries = 0
        mayRepeat = false
    }

    /// Parameters from literal pairs (tests, hand-built requests).
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init()
        for (name, value) in elements { append(name, value) }
    }

    /// Parameters from a dictionary (e.g. a CGI program's environment).
    public init(_ dictionary: [String: String]) {
        self.init()
        for (name, value) in dictionary.sorted(by: { $0.key < $1.key }) { append(name, value) }
    }

    /// Parameters from `NAME=VALUE` C strings (libfcgi's `envp`, a CGI `environ`), copied in one allocation.
    /// Entries without `=` are skipped; the name ends at the first `=`.
    public init(environment: UnsafePointer<UnsafeMutablePointer<CChar>?>) {
        var count = 0
        var total = 0
        while let entry = environment[count] {
            total += Int(strlen(entry))
            count += 1
        }
        self.init(entries: count, bytes: total) { add in
            for i in 0..<count {
                let entry = UnsafeRawPointer(environment[i]!)
                let length = Int(strlen(entry.assumingMemoryBound(to: CChar.self)))
                guard let eq = memchr(entry, 61, length) else { continue } // '='
                let n = UnsafeRawPointer(eq) - entry
                add(entry, n, UnsafeRawPointer(eq) + 1, length - n - 1)
            }
        }
    }

    /// Parameters from at most `count` entries whose names and values total at most `bytes` bytes, each handed
    /// over by `body` through `add(name, nameLength, value, valueLength)`: one allocation, no `String`s (the
    /// transports build a request's parameters this way).
    package init(entries count: Int, bytes: Int,
                 _ body: (_ add: (UnsafeRawPointer, Int, UnsafeRawPointer, Int) -> Void) -> Void) {
        var stored = 0
        storage = [UInt8](unsafeUninitializedCapacity: count * Self.entryHeader + bytes) { out, written in
            var offset = 0
            body { name, n, value, v in
                guard stored < count, n <= Int(UInt16.max), offset + Self.entryHeader + n + v <= out.count else { return }
                Self.writeHeader(out, at: offset, name: n, value: v)
                memcpy(out.baseAddress! + offset + Self.entryHeader, name, n)
                memcpy(out.baseAddress! + offset + Self.entryHeader + n, value, v)
                offset += Self.entryHeader + n + v
                stored += 1
            }
            written = offset
        }
        entries = stored
        mayRepeat = Self.hasRepeatedName(storage, count: stored)
    }

    /// Whether two entries may share a name: 64-bit FNV-1a hashes of the names compared pairwise (no false "no").
    private static func hasRepeatedName(_ storage: [UInt8], count: Int) -> Bool {
        guard count > 1 else { return false }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: count) { hashes in
            storage.withUnsafeBufferPointer { bytes in
                var offset = 0
                for i in 0..<count {
                    let (name, value) = ranges(bytes, at: offset)
                    var h: UInt64 = 0xcbf2_9ce4_8422_2325
                    for b in bytes[name] { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
                    for j in 0..<i where hashes[j] == h { return true }
                    hashes[i] = h
                    offset = value.upperBound
                }
                return false
            }
        }
    }

    /// The value of `name` (the last one sent), or nil; setting replaces every entry of that name, nil removes them.
    public subscript(name: String) -> String? {
        get {
            var name = name
            return name.withUTF8 { key in
                guard let range = lastValueRange(of: key) else { return nil }
                return storage.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
            }
        }
        set {
            remove(name)
            if let newValue { append(name, newValue) }
        }
    }

    /// Whether `name` was sent.
    public func contains(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { lastValueRange(of: $0) != nil }
    }

    /// Whether the value of `name` was sent and is not empty, without making a `String` of it.
    public func hasValue(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { key in lastValueRange(of: key).map { !$0.isEmpty } ?? false }
    }

    /// The number of distinct names.
    public var count: Int {
        var n = 0
        forEachEntry { _, _, isLast in if isLast { n += 1 } }
        return n
    }

    /// The number of entries stored, repeats included (a capacity hint).
    var storedEntries: Int { entries }

    /// Whether no parameter was sent.
    public var isEmpty: Bool { entries == 0 }

    /// The parameters as a dictionary.
    public var dictionary: [String: String] {
        var result: [String: String] = [:]
        for (key, value) in self { result[key] = value }
        return result
    }

    /// Every parameter once (its last value), in the order sent.
    public func makeIterator() -> IndexingIterator<[(key: String, value: String)]> {
        var pairs: [(key: String, value: String)] = []
        pairs.reserveCapacity(entries)
        storage.withUnsafeBufferPointer { bytes in
            forEachEntry { name, value, isLast in
                guard isLast else { return }
                pairs.append((String(decoding: UnsafeBufferPointer(rebasing: bytes[name]), as: UTF8.self),
                              String(decoding: UnsafeBufferPointer(rebasing: bytes[value]), as: UTF8.self)))
            }
        }
        return pairs.makeIterator()
    }

    /// Calls `body` with the name and value bytes of every parameter once (its last value), in the order sent,
    /// without making `String`s (the request's header list is built this way).
    public func withEachEntry(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Void) {
        storage.withUnsafeBufferPointer { bytes in
            forEachEntry { name, value, isLast in
                if isLast { body(UnsafeBufferPointer(rebasing: bytes[name]), UnsafeBufferPointer(rebasing: bytes[value])) }
            }
        }
    }

    /// Equal when the same names have the same (last) values, in any order.
    public static func == (lhs: CGIParameters, rhs: CGIParameters) -> Bool { lhs.dictionary == rhs.dictionary }

    /// The parameters as `[NAME: value]`, sorted by name.
    public var description: String { dictionary.sorted { $0.key < $1.key }.description }

    // MARK: - Storage

    private mutating func append(_ name: String, _ value: String) {
        var name = name, value = value
        name.withUTF8 { n in value.withUTF8 { v in appendBytes(n, v) } }
    }

    private mutating func appendBytes(_ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) {
        let n = Swift.min(name.count, Int(UInt16.max))
        let v = Swift.min(value.count, Int(UInt32.max))
        storage.append(contentsOf: repeatElement(0, count: Self.entryHeader))
        storage.withUnsafeMutableBufferPointer { Self.writeHeader($0, at: $0.count - Self.entryHeader, name: n, value: v) }
        storage.append(contentsOf: UnsafeBufferPointer(rebasing: name[..<n]))
        storage.append(contentsOf: UnsafeBufferPointer(rebasing: value[..<v]))
        entries += 1
        mayRepeat = true
    }

    private static func writeHeader(_ out: UnsafeMutableBufferPointer<UInt8>, at offset: Int, name n: Int, value v: Int) {
        out[offset] = UInt8(truncatingIfNeeded: n)
        out[offset + 1] = UInt8(truncatingIfNeeded: n >> 8)
        out[offset + 2] = UInt8(truncatingIfNeeded: v)
        out[offset + 3] = UInt8(truncatingIfNeeded: v >> 8)
        out[offset + 4] = UInt8(truncatingIfNeeded: v >> 16)
        out[offset + 5] = UInt8(truncatingIfNeeded: v >> 24)
    }

    private mutating func remove(_ name: String) {
        guard contains(name) else { return }
        var kept = CGIParameters()
        storage.withUnsafeBufferPointer { bytes in
            var key = name
            key.withUTF8 { key in
                forEachEntry { n, v, _ in
                    let entryName = UnsafeBufferPointer(rebasing: bytes[n])
                    if !Self.same(entryName, key) { kept.appendBytes(entryName, UnsafeBufferPointer(rebasing: bytes[v])) }
                }
            }
        }
        self = kept
    }

    /// Walks the entries: the byte ranges of name and value, and whether no later entry has the same name.
    private func forEachEntry(_ body: (Range<Int>, Range<Int>, Bool) -> Void) {
        storage.withUnsafeBufferPointer { bytes in
            var offset = 0
            while offset + Self.entryHeader <= bytes.count {
                let (name, value) = Self.ranges(bytes, at: offset)
                var isLast = true
                var later = mayRepeat ? value.upperBound : bytes.count
                while later + Self.entryHeader <= bytes.count {
                    let (otherName, otherValue) = Self.ranges(bytes, at: later)
                    if Self.same(UnsafeBufferPointer(rebasing: bytes[otherName]), UnsafeBufferPointer(rebasing: bytes[name])) {
                        isLast = false
                        break
                    }
                    later = otherValue.upperBound
                }
                body(name, value, isLast)
                offset = value.upperBound
            }
        }
    }

    /// The byte range of the last value stored for `key`.
    private func lastValueRange(of key: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        storage.withUnsafeBufferPointer { bytes in
            var found: Range<Int>?
            var offset = 0
            while offset + Self.entryHeader <= bytes.count {
                let (name, value) = Self.ranges(bytes, at: offset)
                if name.count == key.count, Self.same(UnsafeBufferPointer(rebasing: bytes[name]), key) {
                    found = value
                    if !mayRepeat { break }
                }
                offset = value.upperBound
            }
            return found
        }
    }

    private static func ranges(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> (name: Range<Int>, value: Range<Int>) {
        let n = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
        let v = Int(bytes[offset + 2]) | Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4]) << 16 | Int(bytes[offset + 5]) << 24
        let nameStart = offset + entryHeader
        return (nameStart..<nameStart + n, nameStart + n..<nameStart + n + v)
    }

    private static func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let x = a.baseAddress, let y = b.baseAddress else { return a.count == 0 }
        return memcmp(x, y, a.count) == 0
    }
}
