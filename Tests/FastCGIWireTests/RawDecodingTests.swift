import Testing
@testable import FastCGIWire

/// The non-copying decoders the transport's request gate uses on peeked bytes.
@Suite struct RawDecodingTests {
    @Test("a header decoded in place equals the copying decoder's, at any offset")
    func headerInPlace() throws {
        let records = Record(type: .params, requestID: 258, content: Array(repeating: 7, count: 300)).encoded
            + Record(type: .stdin, requestID: 1).encoded
        let second = 8 + 300 + Int(RecordHeader.padding(forContentLength: 300))
        func inPlace(_ bytes: [UInt8], at offset: Int) -> Result<RecordHeader, FastCGIWireError> {
            bytes.withUnsafeBytes { raw in Result { () throws(FastCGIWireError) in try RecordHeader(decoding: raw, at: offset) } }
        }
        #expect(try inPlace(records, at: 0).get() == RecordHeader(decoding: records))
        #expect(try inPlace(records, at: second).get() == RecordHeader(decoding: records[second...]))
        #expect(throws: FastCGIWireError.truncatedHeader(available: 4)) { try inPlace(records, at: records.count - 4).get() }
        #expect(throws: FastCGIWireError.unsupportedVersion(2)) { try inPlace([2, 1, 0, 1, 0, 0, 0, 0], at: 0).get() }
    }

    static let streams: [(name: String, bytes: [UInt8], error: FastCGIWireError?)] = [
        ("empty", [], nil),
        ("two pairs", NameValuePairs.encode([("A", "1"), ("LONG", String(repeating: "v", count: 200))]), nil),
        ("truncated 4-byte length", [0x80, 0, 0], .truncatedNameValueLength(offset: 0)),
        ("value length missing", [1], .truncatedNameValueLength(offset: 1)),
        ("pair longer than the stream", [100, 1, 65], .nameValueLengthExceedsContent(offset: 0, declared: 101, remaining: 1)),
        ("lengths summing to 2^31", [0xC0, 0, 0, 0, 0xC0, 0, 0, 0, 65, 66],
         .nameValueLengthExceedsContent(offset: 0, declared: 1 << 31, remaining: 2)),
        ("2^31-1 name", [0xFF, 0xFF, 0xFF, 0xFF, 1, 65], .nameValueLengthExceedsContent(offset: 0, declared: 1 << 31, remaining: 1)),
    ]

    @Test("validate agrees with the copying decoder", arguments: streams)
    func validate(_ example: (name: String, bytes: [UInt8], error: FastCGIWireError?)) {
        let result = example.bytes.withUnsafeBytes { raw in Result { () throws(FastCGIWireError) in try NameValuePairs.validate(raw) } }
        switch result {
        case .success: #expect(example.error == nil, "\(example.name)")
        case .failure(let error): #expect(error == example.error, "\(example.name)")
        }
        let decodes = (try? NameValuePairs.decode(example.bytes)) != nil
        #expect(decodes == (example.error == nil), "\(example.name): decode agrees")
    }

    @Test("a BEGIN_REQUEST body decoded in place")
    func beginInPlace() throws {
        let body = BeginRequestBody(role: .responder, keepConnection: true).encoded
        let decoded = try body.withUnsafeBytes { raw in Result { () throws(FastCGIWireError) in try BeginRequestBody(decoding: raw) } }.get()
        #expect(decoded.role == .responder && decoded.keepConnection)
    }
}
