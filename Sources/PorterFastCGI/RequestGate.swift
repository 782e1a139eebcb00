/// Decides, from bytes peeked off a connection, whether libfcgi may be handed the request.
///
/// libfcgi reads with blocking calls, has no read timeout, and (Debian 2.4.2) aborts the whole process on
/// a PARAMS length claim whose name + value lengths overflow an `int`. So Porter only calls
/// `FCGX_Accept_r` when BEGIN_REQUEST and the whole PARAMS stream are already buffered and every
/// name-value length has been checked against the bytes present; anything else waits or is refused.
struct RequestGate: Sendable {
    /// Limits applied while inspecting.
    struct Limits: Sendable {
        /// Largest PARAMS stream accepted (sum of record contents).
        var maxParamsBytes: Int = 64 * 1024
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
        var offset = 0
        var requestID: UInt16?
        var params: [UInt8] = []
        var paramsDone = false
        while true {
            guard bytes.count - offset >= 8 else { return paramsDone ? .ready(stdinComplete: false) : .incomplete }
            let version = bytes[offset]
            let type = bytes[offset + 1]
            let id = UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3])
            let contentLength = Int(bytes[offset + 4]) << 8 | Int(bytes[offset + 5])
            let paddingLength = Int(bytes[offset + 6])
            guard version == 1 else { return .malformed("unsupported FastCGI version \(version)") }
            let recordEnd = offset + 8 + contentLength + paddingLength
            let contentStart = offset + 8
            switch type {
            case 9: // GET_VALUES: management record, answered by libfcgi while it waits for BEGIN.
                guard id == 0, requestID == nil else { return .malformed("GET_VALUES with a request id") }
                guard contentLength <= 4096 else { return .malformed("GET_VALUES too large") }
            case 1: // BEGIN_REQUEST
                guard requestID == nil else { return .malformed("second BEGIN_REQUEST on one connection (multiplexing)") }
                guard id != 0 else { return .malformed("BEGIN_REQUEST with request id 0") }
                guard contentLength == 8 else { return .malformed("BEGIN_REQUEST body must be 8 bytes") }
                guard bytes.count >= contentStart + 8 else { return .incomplete }
                let role = UInt16(bytes[contentStart]) << 8 | UInt16(bytes[contentStart + 1])
                guard role == 1 else { return .malformed("role \(role) is not RESPONDER") }
                requestID = id
            case 4: // PARAMS
                guard let rid = requestID, rid == id else { return .malformed("PARAMS for an unknown request id") }
                guard !paramsDone else { return .malformed("PARAMS after the end of PARAMS") }
                if contentLength == 0 {
                    paramsDone = true
                    if let problem = RequestGate.validatePairs(params) { return .malformed(problem) }
                } else {
                    guard params.count + contentLength <= limits.maxParamsBytes else {
                        return .malformed("PARAMS larger than \(limits.maxParamsBytes) bytes")
                    }
                    let available = min(contentLength, bytes.count - contentStart)
                    guard available == contentLength else { return .incomplete }
                    params.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[contentStart..<contentStart + contentLength]))
                }
            case 5: // STDIN
                guard let rid = requestID, rid == id else { return .malformed("STDIN for an unknown request id") }
                guard paramsDone else { return .malformed("STDIN before the end of PARAMS") }
                if contentLength == 0 {
                    guard bytes.count >= recordEnd else { return .ready(stdinComplete: false) }
                    return .ready(stdinComplete: true)
                }
            case 2: // ABORT_REQUEST before the request was read: nothing to serve.
                return .malformed("request aborted before it was read")
            default:
                return .malformed("unexpected record type \(type)")
            }
            guard bytes.count >= recordEnd else {
                return paramsDone ? .ready(stdinComplete: false) : .incomplete
            }
            offset = recordEnd
        }
    }

    /// Checks that the PARAMS stream is a sequence of name-value pairs whose lengths fit the stream.
    static func validatePairs(_ data: [UInt8]) -> String? {
        var i = 0
        func length() -> Int? {
            guard i < data.count else { return nil }
            if data[i] & 0x80 == 0 {
                defer { i += 1 }
                return Int(data[i])
            }
            guard i + 4 <= data.count else { return nil }
            defer { i += 4 }
            return Int(data[i] & 0x7F) << 24 | Int(data[i + 1]) << 16 | Int(data[i + 2]) << 8 | Int(data[i + 3])
        }
        while i < data.count {
            guard let nameLength = length(), let valueLength = length() else { return "truncated name-value length" }
            guard nameLength + valueLength <= data.count - i else { return "name-value pair longer than PARAMS" }
            i += nameLength + valueLength
        }
        return nil
    }
}
