import Glibc

/// A request's FastCGI parameters (CGI variables: `REQUEST_METHOD`, `HTTP_HOST`, `REMOTE_ADDR`, …), in the order
/// nginx sent them; Go's `ProcessEnv`, ASP.NET's `ServerVariables`. Names are exact (case-sensitive); when a name
/// was sent twice, the last value counts (as PHP-FPM does).
///
/// Stored as one contiguous byte buffer in FastCGI's own name-value encoding (so a request's parameters are one
/// copy of its PARAMS content); a value becomes a `String` only when it is looked up, so the ~30 parameters nginx
/// sends cost nothing until someone reads them. Names and values never hold a NUL byte (one ends a C string).
public struct CGIParameters: Sendable, Sequence, ExpressibleByDictionaryLiteral, Equatable, CustomStringConvertible {
    /// Entries back to back as FastCGI name-value pairs: name length, value length (1 byte up to 127, else 4
    /// bytes big-endian with bit 31 set), name, value.
    private var storage: [UInt8]
    /// The number of entries stored, repeats included.
    private var entries: Int
    /// False when no name can occur twice (then every entry is its name's last and a lookup stops at the first match).
    private var mayRepeat = true

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
        self.init()
        var total = 0
        var i = 0
        while let entry = environment[i] {
            total += 8 + Int(strlen(entry))
            i += 1
        }
        storage.reserveCapacity(total)
        i = 0
        while let entry = environment[i] {
            i += 1
            let length = Int(strlen(entry))
            guard let eq = memchr(entry, 61, length) else { continue } // '='
            let n = UnsafeRawPointer(eq) - UnsafeRawPointer(entry)
            Self.appendEntry(to: &storage, name: UnsafeRawBufferPointer(start: entry, count: n),
                             value: UnsafeRawBufferPointer(start: UnsafeRawPointer(eq) + 1, count: length - n - 1))
            entries += 1
        }
        mayRepeat = Self.hasRepeatedName(storage, count: entries)
    }

    /// Parameters from a FastCGI PARAMS stream's content that the transport has already checked holds `count`
    /// well-formed name-value pairs (`NameValuePairs.forEachPair`): one copy of it. As with libfcgi's `envp` (and
    /// what C code reading the variable would see), a name or value ends at its first NUL byte.
    package init(checkedPairs wire: UnsafeRawBufferPointer, count: Int) {
        self.init()
        guard count > 0, let base = wire.baseAddress else { return }
        storage.reserveCapacity(wire.count)
        // A NUL may sit in a length prefix (an empty value is 0x00), so names and values are searched one by one.
        var p = 0
        var hasNUL = false
        while p < wire.count, !hasNUL {
            let n = Self.fastCGILength(wire, at: &p)
            let v = Self.fastCGILength(wire, at: &p)
            hasNUL = memchr(base + p, 0, n + v) != nil
            p += n + v
        }
        if !hasNUL {
            storage.append(contentsOf: wire)
        } else {
            // Rare (nginx sends no NUL): re-encode each pair cut at its first NUL.
            p = 0
            while p < wire.count {
                let n = Self.fastCGILength(wire, at: &p)
                let v = Self.fastCGILength(wire, at: &p)
                Self.appendEntry(to: &storage, name: Self.cString(base + p, n), value: Self.cString(base + p + n, v))
                p += n + v
            }
        }
        entries = count
        mayRepeat = Self.hasRepeatedName(storage, count: count)
    }

    /// The bytes at `start` up to `length` or the first NUL.
    private static func cString(_ start: UnsafeRawPointer, _ length: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: start, count: memchr(start, 0, length).map { UnsafeRawPointer($0) - start } ?? length)
    }

    /// FastCGI's name-value length prefix at `offset` (1 byte up to 127, else 4 bytes big-endian with bit 31 set),
    /// from bytes known to hold it; advances `offset`. The one decoder of it: FastCGIWire's checked one calls this.
    @inline(__always) @usableFromInline
    package static func fastCGILength(_ bytes: UnsafeRawBufferPointer, at offset: inout Int) -> Int {
        let first = bytes[offset]
        if first & 0x80 == 0 {
            offset += 1
            return Int(first)
        }
        let length = Int(first & 0x7F) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        offset += 4
        return length
    }

    /// Whether two entries may share a name: each name's key (its length and first and last 8 bytes) goes into a
    /// small open-addressing set, so one pass. Equal names give equal keys, so never a false "no"; a false "yes"
    /// only makes lookups scan on. nginx's names differ within those bytes (REMOTE_ADDR, REMOTE_USER; HTTP_ACCEPT_*).
    private static func hasRepeatedName(_ storage: [UInt8], count: Int) -> Bool {
        guard count > 1 else { return false }
        var slots = 16
        while slots < 2 * count { slots <<= 1 }
        return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: slots) { table in
            table.initialize(repeating: 0)
            return storage.withUnsafeBytes { bytes in
                var offset = 0
                for _ in 0..<count {
                    let (name, value) = ranges(bytes, at: offset)
                    let key = nameKey(bytes, name) | 1 // 0 marks an empty slot
                    var i = Int(truncatingIfNeeded: key >> 32) & (slots - 1)
                    while table[i] != 0 {
                        if table[i] == key { return true }
                        i = (i + 1) & (slots - 1)
                    }
                    table[i] = key
                    offset = value.upperBound
                }
                return false
            }
        }
    }

    /// A name's key for `hasRepeatedName`: constant time whatever its length.
    private static func nameKey(_ bytes: UnsafeRawBufferPointer, _ name: Range<Int>) -> UInt64 {
        let n = name.count
        var first: UInt64 = 0, last: UInt64 = 0
        if n >= 8 {
            first = bytes.loadUnaligned(fromByteOffset: name.lowerBound, as: UInt64.self)
            last = bytes.loadUnaligned(fromByteOffset: name.upperBound - 8, as: UInt64.self)
        } else {
            for i in name { first = first << 8 | UInt64(bytes[i]) }
        }
        return (first &* 0x9E37_79B9_7F4A_7C15) ^ (last &* 0xC2B2_AE3D_27D4_EB4F) ^ UInt64(n)
    }

    /// The value of `name` (the last one sent), or nil; setting replaces every entry of that name, nil removes them.
    public subscript(name: String) -> String? {
        get {
            name.withUTF8Bytes { key in
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
        name.withUTF8Bytes { lastValueRange(of: $0) != nil }
    }

    /// Whether the value of `name` was sent and is not empty, without making a `String` of it.
    public func hasValue(_ name: String) -> Bool {
        name.withUTF8Bytes { key in lastValueRange(of: key).map { !$0.isEmpty } ?? false }
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
        name.withUTF8Bytes { n in value.withUTF8Bytes { v in appendBytes(n, v) } }
    }

    private mutating func appendBytes(_ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) {
        Self.appendEntry(to: &storage, name: Self.cString(name), value: Self.cString(value))
        entries += 1
        mayRepeat = true
    }

    /// The bytes of `text` up to its first NUL.
    private static func cString(_ text: UnsafeBufferPointer<UInt8>) -> UnsafeRawBufferPointer {
        guard let base = text.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return cString(UnsafeRawPointer(base), Swift.min(text.count, Int(Int32.max)))
    }

    /// Appends one FastCGI name-value pair (lengths below 2^31) to `out`.
    private static func appendEntry(to out: inout [UInt8], name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        func appendLength(_ length: Int) {
            if length <= 127 {
                out.append(UInt8(length))
            } else {
                out.append(UInt8(truncatingIfNeeded: length >> 24) | 0x80)
                out.append(UInt8(truncatingIfNeeded: length >> 16))
                out.append(UInt8(truncatingIfNeeded: length >> 8))
                out.append(UInt8(truncatingIfNeeded: length))
            }
        }
        appendLength(name.count)
        appendLength(value.count)
        out.append(contentsOf: name)
        out.append(contentsOf: value)
    }

    private mutating func remove(_ name: String) {
        guard contains(name) else { return }
        var kept = CGIParameters()
        storage.withUnsafeBufferPointer { bytes in
            name.withUTF8Bytes { key in
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
            while offset < bytes.count {
                let (name, value) = Self.ranges(bytes, at: offset)
                var isLast = true
                var later = mayRepeat ? value.upperBound : bytes.count
                while later < bytes.count {
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
            while offset < bytes.count {
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

    /// The byte ranges of the name and value of the pair at `offset`.
    private static func ranges(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> (name: Range<Int>, value: Range<Int>) {
        ranges(UnsafeRawBufferPointer(bytes), at: offset)
    }

    private static func ranges(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> (name: Range<Int>, value: Range<Int>) {
        var p = offset
        let n = fastCGILength(bytes, at: &p)
        let v = fastCGILength(bytes, at: &p)
        return (p..<p + n, p + n..<p + n + v)
    }

    private static func same(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        guard let x = a.baseAddress, let y = b.baseAddress else { return a.count == 0 }
        return memcmp(x, y, a.count) == 0
    }
}
