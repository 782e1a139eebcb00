// Porter — FastCGIWire: the FastCGI 1.0 wire protocol in pure Swift.

/// Why bytes could not be decoded as FastCGI records, bodies or name-value pairs.
public enum FastCGIWireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The record header's version byte is not FCGI_VERSION_1.
    case unsupportedVersion(UInt8)
    /// Fewer than 8 bytes were available where a record header was expected.
    case truncatedHeader(available: Int)
    /// A header announced more content and padding than the buffer holds.
    case truncatedContent(expected: Int, available: Int)
    /// The input ended in the middle of a record (bytes left over after the last whole record).
    case truncatedStream(bufferedBytes: Int)
    /// A name-value length prefix was cut off at `offset`.
    case truncatedNameValueLength(offset: Int)
    /// A name-value pair declared more name and value bytes than the content holds.
    case nameValueLengthExceedsContent(offset: Int, declared: Int, remaining: Int)
    /// A name or value is longer than the decoder's configured limit.
    case nameValueTooLong(declared: Int, limit: Int)
    /// A fixed-size record body (BEGIN_REQUEST, END_REQUEST, UNKNOWN_TYPE) has the wrong length.
    case invalidBodyLength(type: RecordType, length: Int)

    /// A one-line human-readable explanation.
    public var description: String {
        switch self {
        case .unsupportedVersion(let v): return "unsupported FastCGI version \(v)"
        case .truncatedHeader(let n): return "truncated record header (\(n) of 8 bytes)"
        case .truncatedContent(let e, let a): return "record needs \(e) content+padding bytes, only \(a) available"
        case .truncatedStream(let n): return "input ended inside a record (\(n) bytes buffered)"
        case .truncatedNameValueLength(let o): return "name-value length cut off at offset \(o)"
        case .nameValueLengthExceedsContent(let o, let d, let r):
            return "name-value pair at offset \(o) declares \(d) bytes, only \(r) remain"
        case .nameValueTooLong(let d, let l): return "name-value length \(d) exceeds limit \(l)"
        case .invalidBodyLength(let t, let l): return "\(t) body has invalid length \(l)"
        }
    }
}
