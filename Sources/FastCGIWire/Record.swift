// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// One FastCGI record: type, request id and up to 65,535 content bytes (padding is not kept).
public struct Record: Hashable, Sendable {
    /// The record type.
    public var type: RecordType
    /// The request id (0 for management records).
    public var requestID: UInt16
    /// The content bytes (at most ``RecordHeader/maximumContentLength``).
    public var content: [UInt8]

    /// A record; `content` must not exceed 65,535 bytes (use ``Record/stream(_:requestID:content:terminate:maximumRecordLength:)`` to split).
    public init(type: RecordType, requestID: UInt16, content: [UInt8] = []) {
        self.type = type
        self.requestID = requestID
        self.content = content
    }

    /// The header this record is encoded with (padding aligns to 8 bytes).
    public var header: RecordHeader {
        precondition(content.count <= RecordHeader.maximumContentLength, "record content longer than 65535 bytes")
        return RecordHeader(type: type, requestID: requestID, contentLength: UInt16(content.count))
    }

    /// Appends header, content and zero padding to `buffer`.
    public func encode(into buffer: inout [UInt8]) {
        let header = self.header
        header.encode(into: &buffer)
        buffer.append(contentsOf: content)
        buffer.append(contentsOf: repeatElement(0, count: Int(header.paddingLength)))
    }

    /// Header, content and padding as bytes.
    public var encoded: [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(RecordHeader.size + content.count + 7)
        encode(into: &buffer)
        return buffer
    }

    /// Decodes one whole record at the start of `bytes`; returns it with the number of bytes consumed.
    public static func decode(from bytes: [UInt8]) throws(FastCGIWireError) -> (record: Record, consumed: Int) {
        let header = try RecordHeader(decoding: bytes)
        let available = bytes.count - RecordHeader.size
        guard available >= header.bodyLength else {
            throw .truncatedContent(expected: header.bodyLength, available: available)
        }
        let start = RecordHeader.size
        let content = Array(bytes[start..<start + Int(header.contentLength)])
        return (Record(type: header.type, requestID: header.requestID, content: content),
                RecordHeader.size + header.bodyLength)
    }

    /// Splits `content` into records of at most `maximumRecordLength` (≤ 65,535) bytes and,
    /// if `terminate`, ends with an empty record.
    public static func streamRecords(_ type: RecordType, requestID: UInt16, content: [UInt8], terminate: Bool = true,
                                     maximumRecordLength: Int = RecordHeader.maximumContentLength) -> [Record] {
        precondition(maximumRecordLength > 0 && maximumRecordLength <= RecordHeader.maximumContentLength)
        var records: [Record] = []
        var offset = 0
        while offset < content.count {
            let end = min(offset + maximumRecordLength, content.count)
            records.append(Record(type: type, requestID: requestID, content: Array(content[offset..<end])))
            offset = end
        }
        if terminate { records.append(Record(type: type, requestID: requestID)) }
        return records
    }

    /// The encoded bytes of ``streamRecords(_:requestID:content:terminate:maximumRecordLength:)``.
    public static func stream(_ type: RecordType, requestID: UInt16, content: [UInt8], terminate: Bool = true,
                              maximumRecordLength: Int = RecordHeader.maximumContentLength) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(content.count + (content.count / RecordHeader.maximumContentLength + 2) * 16)
        for record in streamRecords(type, requestID: requestID, content: content, terminate: terminate,
                                    maximumRecordLength: maximumRecordLength) {
            record.encode(into: &buffer)
        }
        return buffer
    }
}
