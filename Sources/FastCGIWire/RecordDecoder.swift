// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// An incremental record decoder: feed bytes in any chunking, take whole records out.
///
/// ```swift
/// var decoder = RecordDecoder()
/// decoder.feed(chunk)
/// while let record = try decoder.next() { handle(record) }
/// try decoder.finish()   // at end of input: throws if a record was cut off
/// ```
/// A malformed header (version other than 1) is reported as soon as its first byte arrives;
/// after an error the decoder keeps throwing the same error.
public struct RecordDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var readIndex = 0
    private var failure: FastCGIWireError?

    /// An empty decoder.
    public init() {}

    /// Bytes received but not yet returned as a record.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Appends received bytes.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if readIndex > 0 && readIndex * 2 >= buffer.count {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole record, or `nil` if more bytes are needed.
    public mutating func next() throws(FastCGIWireError) -> Record? {
        if let failure { throw failure }
        let available = buffer.count - readIndex
        if available >= 1 && buffer[readIndex] != RecordHeader.version1 {
            let error = FastCGIWireError.unsupportedVersion(buffer[readIndex])
            failure = error
            throw error
        }
        guard available >= RecordHeader.size else { return nil }
        let header: RecordHeader
        do throws(FastCGIWireError) {
            header = try RecordHeader(decoding: buffer[readIndex..<readIndex + RecordHeader.size])
        } catch {
            failure = error
            throw error
        }
        guard available >= RecordHeader.size + header.bodyLength else { return nil }
        let start = readIndex + RecordHeader.size
        let content = Array(buffer[start..<start + Int(header.contentLength)])
        readIndex = start + header.bodyLength
        return Record(type: header.type, requestID: header.requestID, content: content)
    }

    /// Every whole record currently buffered.
    public mutating func nextRecords() throws(FastCGIWireError) -> [Record] {
        var records: [Record] = []
        while let record = try next() { records.append(record) }
        return records
    }

    /// Removes and returns the buffered bytes that do not yet form a whole record.
    public mutating func takeBufferedBytes() -> [UInt8] {
        let rest = Array(buffer[readIndex...])
        buffer = []
        readIndex = 0
        return rest
    }

    /// Declares end of input: throws ``FastCGIWireError/truncatedStream(bufferedBytes:)`` if a partial record remains.
    public func finish() throws(FastCGIWireError) {
        if let failure { throw failure }
        if bufferedByteCount > 0 { throw .truncatedStream(bufferedBytes: bufferedByteCount) }
    }

    /// Decodes a complete byte sequence into records, throwing if it is malformed or ends mid-record.
    public static func decodeAll(_ bytes: [UInt8]) throws(FastCGIWireError) -> [Record] {
        var decoder = RecordDecoder()
        decoder.feed(bytes)
        let records = try decoder.nextRecords()
        try decoder.finish()
        return records
    }
}
