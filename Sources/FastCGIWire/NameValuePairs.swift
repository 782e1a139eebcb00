// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

public import Porter

/// One FastCGI name-value pair (a CGI variable in PARAMS, a variable in GET_VALUES).
public struct NameValuePair: Hashable, Sendable {
    /// The name bytes.
    public var name: [UInt8]
    /// The value bytes.
    public var value: [UInt8]

    /// A pair from raw bytes.
    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// A pair from strings (UTF-8).
    public init(_ name: String, _ value: String) {
        self.name = Array(name.utf8)
        self.value = Array(value.utf8)
    }

    /// The name decoded as UTF-8 (invalid bytes repaired).
    public var nameString: String { String(decoding: name, as: UTF8.self) }
    /// The value decoded as UTF-8 (invalid bytes repaired).
    public var valueString: String { String(decoding: value, as: UTF8.self) }
}

/// Encoding and decoding of name-value pairs: 1-byte lengths up to 127, else 4 bytes with the top bit set (§3.4).
public enum NameValuePairs {
    /// The largest length the 4-byte form can express (2^31 - 1).
    public static let maximumLength = Int(Int32.max)

    /// Appends the length prefix for `length` (1 byte if ≤ 127, else 4 bytes big-endian with bit 31 set).
    public static func encodeLength(_ length: Int, into buffer: inout [UInt8]) {
        precondition(length >= 0 && length <= maximumLength, "name-value length out of range")
        if length <= 127 {
            buffer.append(UInt8(length))
        } else {
            buffer.append(UInt8((length >> 24) & 0x7F) | 0x80)
            buffer.append(UInt8((length >> 16) & 0xFF))
            buffer.append(UInt8((length >> 8) & 0xFF))
            buffer.append(UInt8(length & 0xFF))
        }
    }

    /// The length prefix for `length` as bytes.
    public static func encodedLength(_ length: Int) -> [UInt8] {
        var buffer: [UInt8] = []
        encodeLength(length, into: &buffer)
        return buffer
    }

    /// Reads a length prefix at `offset` and advances it; throws if the prefix is cut off.
    public static func decodeLength(_ bytes: [UInt8], at offset: inout Int) throws(FastCGIWireError) -> Int {
        try bytes.withUnsafeBytes { raw in Result { () throws(FastCGIWireError) in try decodeLength(raw, at: &offset) } }.get()
    }

    /// Reads a length prefix at `offset` of a raw buffer without copying, and advances `offset`.
    @inlinable
    public static func decodeLength(_ bytes: UnsafeRawBufferPointer, at offset: inout Int) throws(FastCGIWireError) -> Int {
        guard offset < bytes.count else { throw .truncatedNameValueLength(offset: offset) }
        guard bytes[offset] & 0x80 == 0 || offset + 4 <= bytes.count else { throw .truncatedNameValueLength(offset: offset) }
        return CGIParameters.fastCGILength(bytes, at: &offset)
    }

    /// Checks, without copying, that `bytes` (a whole PARAMS or GET_VALUES stream) is a sequence of pairs whose
    /// declared lengths fit the stream. Each length is below 2^31, and their sum is compared in 64-bit
    /// arithmetic, so a pair claiming 2^31 or more in total is refused here rather than overflowing a C `int`.
    public static func validate(_ bytes: UnsafeRawBufferPointer, limit: Int = maximumLength) throws(FastCGIWireError) {
        try forEachPair(bytes, limit: limit) { _, _ in }
    }

    /// Walks the pairs of `bytes` (a whole PARAMS or GET_VALUES stream) without copying: `body` gets the byte
    /// ranges of each name and value, in order. Throws, as `validate` does, at the first pair that does not fit.
    @inlinable
    public static func forEachPair(_ bytes: UnsafeRawBufferPointer, limit: Int = maximumLength,
                                   _ body: (_ name: Range<Int>, _ value: Range<Int>) -> Void) throws(FastCGIWireError) {
        var offset = 0
        while offset < bytes.count {
            let pairStart = offset
            let nameLength = try decodeLength(bytes, at: &offset)
            let valueLength = try decodeLength(bytes, at: &offset)
            if nameLength > limit { throw .nameValueTooLong(declared: nameLength, limit: limit) }
            if valueLength > limit { throw .nameValueTooLong(declared: valueLength, limit: limit) }
            let declared = nameLength + valueLength  // ≤ 2^32, no overflow in Int
            let remaining = bytes.count - offset
            guard declared <= remaining else {
                throw .nameValueLengthExceedsContent(offset: pairStart, declared: declared, remaining: remaining)
            }
            body(offset..<offset + nameLength, offset + nameLength..<offset + declared)
            offset += declared
        }
    }

    /// Appends one encoded pair to `buffer`.
    public static func encode(_ pair: NameValuePair, into buffer: inout [UInt8]) {
        encodeLength(pair.name.count, into: &buffer)
        encodeLength(pair.value.count, into: &buffer)
        buffer.append(contentsOf: pair.name)
        buffer.append(contentsOf: pair.value)
    }

    /// Encodes pairs in order.
    public static func encode(_ pairs: [NameValuePair]) -> [UInt8] {
        var buffer: [UInt8] = []
        for pair in pairs { encode(pair, into: &buffer) }
        return buffer
    }

    /// Encodes string pairs in order.
    public static func encode(_ pairs: [(name: String, value: String)]) -> [UInt8] {
        encode(pairs.map { NameValuePair($0.name, $0.value) })
    }

    /// Decodes every pair in `bytes` (a whole reassembled PARAMS or GET_VALUES stream).
    /// - Parameter limit: the largest name or value length accepted; longer ones throw ``FastCGIWireError/nameValueTooLong(declared:limit:)``.
    public static func decode(_ bytes: [UInt8], limit: Int = maximumLength) throws(FastCGIWireError) -> [NameValuePair] {
        var pairs: [NameValuePair] = []
        try bytes.withUnsafeBytes { raw in
            Result { () throws(FastCGIWireError) in
                try forEachPair(raw, limit: limit) { name, value in
                    pairs.append(NameValuePair(name: Array(raw[name]), value: Array(raw[value])))
                }
            }
        }.get()
        return pairs
    }
}

extension CGIParameters {
    /// A request's parameters straight from its PARAMS stream content (what nginx sent, in order), checked pair by
    /// pair first (throwing as `NameValuePairs.validate` does): one copy, no `String`s. As with libfcgi's `envp`
    /// (and what C code reading the variable would see), a name or value ends at its first NUL byte.
    public init(nameValuePairs bytes: UnsafeRawBufferPointer) throws(FastCGIWireError) {
        var count = 0
        try NameValuePairs.forEachPair(bytes) { _, _ in count += 1 }
        self.init(checkedPairs: bytes, count: count)
    }
}
