// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// The fixed 8-byte header that starts every FastCGI record (FastCGI 1.0 §3.3).
public struct RecordHeader: Hashable, Sendable {
    /// The size of an encoded header in bytes.
    public static let size = 8
    /// FCGI_VERSION_1, the only version defined.
    public static let version1: UInt8 = 1
    /// The largest content a single record can carry.
    public static let maximumContentLength = Int(UInt16.max)

    /// The protocol version byte (1).
    public var version: UInt8
    /// The record type.
    public var type: RecordType
    /// The request id (0 for management records).
    public var requestID: UInt16
    /// Number of content bytes that follow the header.
    public var contentLength: UInt16
    /// Number of padding bytes that follow the content.
    public var paddingLength: UInt8
    /// The reserved byte (sent as 0, ignored on receipt).
    public var reserved: UInt8

    /// A header; padding defaults to what aligns the record to 8 bytes.
    public init(type: RecordType, requestID: UInt16, contentLength: UInt16,
                paddingLength: UInt8? = nil, version: UInt8 = RecordHeader.version1, reserved: UInt8 = 0) {
        self.version = version
        self.type = type
        self.requestID = requestID
        self.contentLength = contentLength
        self.paddingLength = paddingLength ?? RecordHeader.padding(forContentLength: Int(contentLength))
        self.reserved = reserved
    }

    /// Decodes the first 8 bytes of `bytes`; throws for a short buffer or a version other than 1.
    public init<Bytes: Collection>(decoding bytes: Bytes) throws(FastCGIWireError) where Bytes.Element == UInt8 {
        var raw: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
        var iterator = bytes.makeIterator()
        for i in 0..<RecordHeader.size {
            guard let byte = iterator.next() else { throw .truncatedHeader(available: i) }
            withUnsafeMutableBytes(of: &raw) { $0[i] = byte }
        }
        guard raw.0 == RecordHeader.version1 else { throw .unsupportedVersion(raw.0) }
        self.version = raw.0
        self.type = RecordType(rawValue: raw.1)
        self.requestID = UInt16(raw.2) << 8 | UInt16(raw.3)
        self.contentLength = UInt16(raw.4) << 8 | UInt16(raw.5)
        self.paddingLength = raw.6
        self.reserved = raw.7
    }

    /// Decodes the 8 bytes at `offset` of `bytes` without copying; throws for a short buffer or a version other than 1.
    public init(decoding bytes: UnsafeRawBufferPointer, at offset: Int) throws(FastCGIWireError) {
        let available = bytes.count - offset
        guard available >= RecordHeader.size else { throw .truncatedHeader(available: max(0, available)) }
        guard bytes[offset] == RecordHeader.version1 else { throw .unsupportedVersion(bytes[offset]) }
        self.version = bytes[offset]
        self.type = RecordType(rawValue: bytes[offset + 1])
        self.requestID = UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3])
        self.contentLength = UInt16(bytes[offset + 4]) << 8 | UInt16(bytes[offset + 5])
        self.paddingLength = bytes[offset + 6]
        self.reserved = bytes[offset + 7]
    }

    /// Padding that makes `contentLength` a multiple of 8 (what Go and libfcgi send).
    public static func padding(forContentLength contentLength: Int) -> UInt8 {
        UInt8((8 - contentLength % 8) % 8)
    }

    /// Content plus padding: the bytes that follow this header.
    public var bodyLength: Int { Int(contentLength) + Int(paddingLength) }

    /// Appends the 8 header bytes to `buffer`.
    public func encode(into buffer: inout [UInt8]) {
        withUnsafeTemporaryAllocation(byteCount: RecordHeader.size, alignment: 1) { bytes in
            store(at: bytes.baseAddress!)
            buffer.append(contentsOf: bytes)
        }
    }

    /// Writes the 8 header bytes at `pointer` (for framing into memory the caller owns, without an array).
    public func store(at pointer: UnsafeMutableRawPointer) {
        let bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (version, type.rawValue, UInt8(requestID >> 8), UInt8(requestID & 0xFF),
             UInt8(contentLength >> 8), UInt8(contentLength & 0xFF), paddingLength, reserved)
        pointer.storeBytes(of: bytes, as: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8).self)
    }

    /// The 8 header bytes.
    public var encoded: [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(RecordHeader.size)
        encode(into: &buffer)
        return buffer
    }
}
