import FastCGIWire
import Porter

/// Decides, from bytes peeked off a connection, whether libfcgi may be handed the request.
///
/// libfcgi reads with blocking calls, has no read timeout, and (Debian 2.4.2) aborts the whole process on
/// a PARAMS length claim whose name + value lengths overflow an `int`. So Porter only calls
/// `FCGX_Accept_r` when BEGIN_REQUEST and the whole PARAMS stream are already buffered and every
/// name-value length has been checked against the bytes present; anything else waits or is refused.
/// Records and name-value lengths are decoded by FastCGIWire, in place (nothing is copied in the common case).
struct RequestGate: Sendable {
    /// Limits applied while inspecting.
    struct Limits: Sendable {
        /// Largest PARAMS stream accepted (sum of record contents).
        var maxParamsBytes: Int = 64 * 1024
        /// Largest GET_VALUES record accepted before the request.
        var maxGetValuesBytes: Int = 4096
    }

    /// The verdict for the bytes seen so far.
    enum Verdict: Equatable, Sendable {
        /// BEGIN and all PARAMS are buffered and valid; `stdinComplete` tells whether STDIN's end is buffered too.
        case ready(stdinComplete: Bool)
        /// A well-formed prefix; wait for more bytes.
        case incomplete
        /// Not a FastCGI request Porter serves; close the connection.
        case malformed(String)
    }

    let limits: Limits

    /// Inspects `bytes` (the start of the connection's receive buffer).
    func inspect(_ bytes: UnsafeRawBufferPointer) -> Verdict {
        var params = ParamsContent()
        return inspect(bytes, params: &params)
    }

    /// Inspects `bytes`; when the verdict is `.ready`, `params` locates the whole, checked PARAMS content in them.
    func inspect(_ bytes: UnsafeRawBufferPointer, params: inout ParamsContent) -> Verdict {
        var offset = 0
        var requestID: UInt16?
        var paramsDone = false
        while true {
            guard bytes.count - offset >= RecordHeader.size else { return paramsDone ? .ready(stdinComplete: false) : .incomplete }
            let header: RecordHeader
            do throws(FastCGIWireError) {
                header = try RecordHeader(decoding: bytes, at: offset)
            } catch {
                return .malformed(error.description)
            }
            let contentStart = offset + RecordHeader.size
            let contentLength = Int(header.contentLength)
            let recordEnd = contentStart + header.bodyLength
            switch header.type {
            case .getValues: // management record, answered by libfcgi while it waits for BEGIN
                guard header.requestID == 0, requestID == nil else { return .malformed("GET_VALUES with a request id") }
                guard contentLength <= limits.maxGetValuesBytes else { return .malformed("GET_VALUES too large") }
            case .beginRequest:
                guard requestID == nil else { return .malformed("second BEGIN_REQUEST on one connection (multiplexing)") }
                guard header.requestID != 0 else { return .malformed("BEGIN_REQUEST with request id 0") }
                guard contentLength == 8 else { return .malformed("BEGIN_REQUEST body must be 8 bytes") }
                guard bytes.count >= contentStart + 8 else { return .incomplete }
                let begin = try? BeginRequestBody(decoding: UnsafeRawBufferPointer(rebasing: bytes[contentStart..<contentStart + 8]))
                guard let role = begin?.role, role == .responder else {
                    return .malformed("role \(begin?.role.rawValue ?? 0) is not RESPONDER")
                }
                requestID = header.requestID
            case .params:
                guard let rid = requestID, rid == header.requestID else { return .malformed("PARAMS for an unknown request id") }
                guard !paramsDone else { return .malformed("PARAMS after the end of PARAMS") }
                if contentLength == 0 {
                    // The whole end-of-PARAMS record, padding included: libfcgi would block reading the rest.
                    guard bytes.count >= recordEnd else { return .incomplete }
                    paramsDone = true
                    if let problem = params.validate(in: bytes) { return .malformed(problem) }
                } else {
                    guard params.count + contentLength <= limits.maxParamsBytes else {
                        return .malformed("PARAMS larger than \(limits.maxParamsBytes) bytes")
                    }
                    guard bytes.count >= contentStart + contentLength else { return .incomplete }
                    params.add(contentStart..<contentStart + contentLength, of: bytes)
                }
            case .stdin:
                guard let rid = requestID, rid == header.requestID else { return .malformed("STDIN for an unknown request id") }
                guard paramsDone else { return .malformed("STDIN before the end of PARAMS") }
                if contentLength == 0 { return .ready(stdinComplete: bytes.count >= recordEnd) }
            case .abortRequest: // before the request was read: nothing to serve
                return .malformed("request aborted before it was read")
            default:
                return .malformed("unexpected record type \(header.type.rawValue)")
            }
            guard bytes.count >= recordEnd else {
                return paramsDone ? .ready(stdinComplete: false) : .incomplete
            }
            offset = recordEnd
        }
    }
}

/// The PARAMS stream's content: a range of the peeked bytes when it came in one record (what nginx sends),
/// reassembled into an array only when it was split across records.
struct ParamsContent {
    private var single: Range<Int>?
    private var joined: [UInt8]?
    /// Content bytes so far.
    private(set) var count = 0

    /// Adds one record's content.
    mutating func add(_ range: Range<Int>, of bytes: UnsafeRawBufferPointer) {
        count += range.count
        if joined == nil, single == nil {
            single = range
            return
        }
        if joined == nil, let first = single {
            joined = Array(UnsafeRawBufferPointer(rebasing: bytes[first]))
            single = nil
        }
        joined?.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[range]))
    }

    /// Name-value pairs in the content (known once `validate` passed).
    private(set) var pairs = 0

    /// The request's parameters, copied from the content `validate` checked: in `bytes` (those inspected), or
    /// reassembled when PARAMS came in several records.
    func parameters(in bytes: UnsafeRawBufferPointer) -> CGIParameters {
        if let joined { return joined.withUnsafeBytes { CGIParameters(checkedPairs: $0, count: pairs) } }
        return CGIParameters(checkedPairs: UnsafeRawBufferPointer(rebasing: bytes[single ?? 0..<0]), count: pairs)
    }

    /// Why the stream is not a valid sequence of name-value pairs, or nil when it is; counts the pairs.
    mutating func validate(in bytes: UnsafeRawBufferPointer) -> String? {
        var pairs = 0
        defer { self.pairs = pairs }
        func walk(_ content: UnsafeRawBufferPointer) throws(FastCGIWireError) {
            try NameValuePairs.forEachPair(content) { _, _ in pairs += 1 }
        }
        do throws(FastCGIWireError) {
            if let joined {
                try joined.withUnsafeBytes { raw in Result { () throws(FastCGIWireError) in try walk(raw) } }.get()
            } else if let single {
                try walk(UnsafeRawBufferPointer(rebasing: bytes[single]))
            }
            return nil
        } catch {
            switch error {
            case .truncatedNameValueLength: return "truncated name-value length"
            case .nameValueLengthExceedsContent: return "name-value pair longer than PARAMS"
            default: return error.description
            }
        }
    }
}
