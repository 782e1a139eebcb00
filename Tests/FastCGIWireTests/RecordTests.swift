import Testing
@testable import FastCGIWire

/// Go's net/http/fcgi `streamTests` and `TestGetValues`, plus header and body layouts.
@Suite struct RecordTests {
    /// Go's "two records" fixture: 66,000 zero bytes of STDIN for request 300.
    static let twoRecordStream: [UInt8] =
        [1, 5, 0x01, 0x2C, 0xFF, 0xFF, 1, 0] + [UInt8](repeating: 0, count: 65_536)
        + [1, 5, 0x01, 0x2C, 0x01, 0xD1, 7, 0] + [UInt8](repeating: 0, count: 472)
        + [1, 5, 0x01, 0x2C, 0, 0, 0, 0]

    struct StreamExample: Sendable, CustomTestStringConvertible {
        var desc: String, type: RecordType, requestID: UInt16, content: [UInt8], raw: [UInt8]
        var testDescription: String { desc }
        init(_ desc: String, _ type: RecordType, _ requestID: UInt16, _ content: [UInt8], _ raw: [UInt8]) {
            (self.desc, self.type, self.requestID, self.content, self.raw) = (desc, type, requestID, content, raw)
        }
    }

    static let streams: [StreamExample] = [
        StreamExample("single record", .stdout, 1, [], [1, 6, 0, 1, 0, 0, 0, 0]),
        StreamExample("two records", .stdin, 300, [UInt8](repeating: 0, count: 66_000), twoRecordStream),
        StreamExample("exactly one full record", .stdout, 2, [UInt8](repeating: 7, count: 65_535),
         [1, 6, 0, 2, 0xFF, 0xFF, 1, 0] + [UInt8](repeating: 7, count: 65_535) + [0] + [1, 6, 0, 2, 0, 0, 0, 0]),
        StreamExample("padding to eight", .params, 1, Array("abc".utf8),
         [1, 4, 0, 1, 0, 3, 5, 0, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0] + [1, 4, 0, 1, 0, 0, 0, 0]),
    ]

    @Test(arguments: streams)
    func encodesStream(_ example: StreamExample) {
        let encoded = Record.stream(example.type, requestID: example.requestID, content: example.content)
        #expect(encoded.count == example.raw.count, "\(example.desc)")
        #expect(encoded == example.raw, "\(example.desc)")
    }

    @Test(arguments: streams)
    func decodesStream(_ example: StreamExample) throws {
        let records = try RecordDecoder.decodeAll(example.raw)
        #expect(records.last?.content.isEmpty == true, "stream ends with an empty record")
        #expect(records.allSatisfy { $0.type == example.type && $0.requestID == example.requestID })
        #expect(records.flatMap(\.content) == example.content, "\(example.desc)")
    }

    @Test func twoRecordHeadersMatchGo() {
        let records = Record.streamRecords(.stdin, requestID: 300, content: [UInt8](repeating: 0, count: 66_000))
        #expect(records.map(\.content.count) == [65_535, 465, 0])
        #expect(records.map(\.header.paddingLength) == [1, 7, 0])
        #expect(records[0].header.encoded == [1, 5, 0x01, 0x2C, 0xFF, 0xFF, 0x01, 0x00])
        #expect(records[1].header.encoded == [1, 5, 0x01, 0x2C, 0x01, 0xD1, 0x07, 0x00])
    }

    /// Go's `TestGetValues`: the exact bytes a responder answers to FCGI_GET_VALUES.
    @Test func getValuesResultMatchesGo() throws {
        let want = Array("\u{01}\n\u{00}\u{00}\u{00}\u{12}\u{06}\u{00}".utf8)
            + [0x0F, 0x01] + Array("FCGI_MPXS_CONNS1".utf8)
            + [0, 0, 0, 0, 0, 0] + [0x01, 0x0A, 0, 0, 0, 0, 0, 0]
        let content = NameValuePairs.encode([NameValuePair("FCGI_MPXS_CONNS", "1")])
        #expect(Record.stream(.getValuesResult, requestID: 0, content: content) == want)

        let records = try RecordDecoder.decodeAll(want)
        #expect(records.count == 2)
        #expect(records[0].type == .getValuesResult && records[0].type.isManagement)
        #expect(try NameValuePairs.decode(records[0].content) == [NameValuePair("FCGI_MPXS_CONNS", "1")])
    }

    @Test func getValuesQueryLayout() {
        let query = NameValuePairs.encode(["FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS"].map { NameValuePair($0, "") })
        let bytes = Record(type: .getValues, requestID: 0, content: query).encoded
        #expect(Array(bytes.prefix(8)) == [1, 9, 0, 0, 0, 0x30, 0, 0])
        #expect(bytes.count == 8 + 48)
    }

    @Test func headerRoundTrip() throws {
        let header = RecordHeader(type: .stderr, requestID: 0xBEEF, contentLength: 0x1234, paddingLength: 200, reserved: 9)
        #expect(header.encoded == [1, 7, 0xBE, 0xEF, 0x12, 0x34, 200, 9])
        #expect(try RecordHeader(decoding: header.encoded) == header)
        #expect(header.bodyLength == 0x1234 + 200)
    }

    @Test(arguments: [(0, 0), (1, 7), (7, 1), (8, 0), (9, 7), (465, 7), (65_535, 1)])
    func paddingAlignsToEight(_ example: (length: Int, padding: Int)) {
        #expect(Int(RecordHeader.padding(forContentLength: example.length)) == example.padding)
    }

    @Test func beginRequestBody() throws {
        let keep = BeginRequestBody(role: .responder, keepConnection: true)
        #expect(keep.encoded == [0, 1, 1, 0, 0, 0, 0, 0])
        #expect(BeginRequestBody(role: .filter).encoded == [0, 3, 0, 0, 0, 0, 0, 0])
        let decoded = try BeginRequestBody(decoding: keep.encoded)
        #expect(decoded.keepConnection && decoded.role == .responder)
    }

    @Test func endRequestBody() throws {
        let end = EndRequestBody(appStatus: 0x0102_0304, protocolStatus: .overloaded)
        #expect(end.encoded == [1, 2, 3, 4, 2, 0, 0, 0])
        #expect(try EndRequestBody(decoding: end.encoded) == end)
    }

    @Test func unknownTypeBody() throws {
        let body = UnknownTypeBody(type: RecordType(rawValue: 42))
        #expect(body.encoded == [42, 0, 0, 0, 0, 0, 0, 0])
        #expect(try UnknownTypeBody(decoding: body.encoded).type.rawValue == 42)
        #expect(!RecordType(rawValue: 42).isKnown && RecordType.unknownType.isKnown)
    }

    @Test func recordTypeNames() {
        let all: [RecordType] = [.beginRequest, .abortRequest, .endRequest, .params, .stdin, .stdout, .stderr, .data,
                                 .getValues, .getValuesResult, .unknownType]
        #expect(all.map(\.rawValue) == Array(1...11))
        #expect(all.filter(\.isStream) == [.params, .stdin, .stdout, .stderr, .data])
        #expect(RecordType.getValuesResult.description == "FCGI_GET_VALUES_RESULT")
    }
}
