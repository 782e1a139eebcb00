import Testing
@testable import FastCGIWire

/// NIO's `ByteToMessageDecoderVerifier` idea: the same records whatever the chunking; typed errors for bad input.
@Suite struct RecordDecoderTests {
    /// A whole nginx-like exchange: BEGIN_REQUEST, params straddling records, a body, STDOUT/STDERR/END_REQUEST.
    static let conversation: [Record] = {
        let request = FastCGIRequest.post("/upload?x=1", text: String(repeating: "é", count: 40_000))
        var records = try! RecordDecoder.decodeAll(request.encoded(maximumParamsRecordLength: 37))
        records += Record.streamRecords(.stdout, requestID: 1, content: Array("Status: 201 Created\r\n\r\nok".utf8))
        records += Record.streamRecords(.stderr, requestID: 1, content: Array("warning\n".utf8))
        records.append(Record(type: .endRequest, requestID: 1, content: EndRequestBody(appStatus: 3).encoded))
        records.append(Record(type: .unknownType, requestID: 0, content: UnknownTypeBody(type: RecordType(rawValue: 99)).encoded))
        return records
    }()

    static var conversationBytes: [UInt8] { conversation.flatMap(\.encoded) }

    enum Chunking: String, CaseIterable, Sendable {
        case whole, byteByByte, sevenBytes, primes, concatenatedTwice
    }

    @Test(arguments: Chunking.allCases)
    func decodesRegardlessOfChunking(_ chunking: Chunking) throws {
        var input = Self.conversationBytes
        var expected = Self.conversation
        if chunking == .concatenatedTwice {
            input += input
            expected += expected
        }
        let sizes: [Int]
        switch chunking {
        case .whole, .concatenatedTwice: sizes = [input.count]
        case .byteByByte: sizes = [1]
        case .sevenBytes: sizes = [7]
        case .primes: sizes = [2, 3, 5, 7, 11, 13, 8191, 65_537]
        }
        var decoder = RecordDecoder()
        var decoded: [Record] = []
        var offset = 0
        var turn = 0
        while offset < input.count {
            let size = sizes[turn % sizes.count]
            let end = min(offset + size, input.count)
            decoder.feed(input[offset..<end])
            decoded += try decoder.nextRecords()
            offset = end
            turn += 1
        }
        try decoder.finish()
        #expect(decoded.count == expected.count)
        #expect(decoded == expected)
    }

    @Test func paramsSurviveStraddling() throws {
        let records = Self.conversation.filter { $0.type == .params }
        #expect(records.count > 10, "params were split into small records")
        let params = try NameValuePairs.decode(records.flatMap(\.content))
        #expect(params.first { $0.nameString == "REQUEST_URI" }?.valueString == "/upload?x=1")
    }

    @Test func ignoresPaddingContent() throws {
        // A sender may use any padding length and any padding bytes.
        let raw: [UInt8] = [1, 6, 0, 1, 0, 2, 3, 0xAA, 0x68, 0x69, 0xFF, 0xFF, 0xFF]
        #expect(try RecordDecoder.decodeAll(raw) == [Record(type: .stdout, requestID: 1, content: Array("hi".utf8))])
    }

    @Test func waitsForWholeRecord() throws {
        var decoder = RecordDecoder()
        let bytes = Record(type: .stdout, requestID: 1, content: [1, 2, 3]).encoded
        decoder.feed(bytes.prefix(10))
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedByteCount == 10)
        #expect(throws: FastCGIWireError.truncatedStream(bufferedBytes: 10)) { try decoder.finish() }
        decoder.feed(bytes.dropFirst(10))
        #expect(try decoder.next()?.content == [1, 2, 3])
        try decoder.finish()
    }

    static let malformed: [(name: String, bytes: [UInt8], error: FastCGIWireError)] = [
        ("version 0", [0, 1, 0, 1, 0, 8, 0, 0], .unsupportedVersion(0)),
        ("version 2", [2, 6, 0, 1, 0, 0, 0, 0], .unsupportedVersion(2)),
        ("HTTP instead of FastCGI", Array("GET / HTTP/1.1\r\n\r\n".utf8), .unsupportedVersion(0x47)),
        ("truncated header", [1, 6, 0, 1, 0], .truncatedStream(bufferedBytes: 5)),
        ("content beyond input", [1, 6, 0, 1, 0, 16, 0, 0, 1, 2, 3], .truncatedStream(bufferedBytes: 11)),
        ("padding beyond input", [1, 6, 0, 1, 0, 1, 7, 0, 0x41], .truncatedStream(bufferedBytes: 9)),
        ("bad version after a good record", [1, 6, 0, 1, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9], .unsupportedVersion(9)),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedStreams(_ example: (name: String, bytes: [UInt8], error: FastCGIWireError)) {
        #expect(throws: example.error, "\(example.name)") { try RecordDecoder.decodeAll(example.bytes) }
    }

    @Test func badVersionIsReportedFromTheFirstByteAndSticks() {
        var decoder = RecordDecoder()
        decoder.feed([3])
        #expect(throws: FastCGIWireError.unsupportedVersion(3)) { try decoder.next() }
        decoder.feed([6, 0, 1, 0, 0, 0, 0])
        #expect(throws: FastCGIWireError.unsupportedVersion(3)) { try decoder.next() }
    }

    static let singleRecordErrors: [(name: String, bytes: [UInt8], error: FastCGIWireError)] = [
        ("empty", [], .truncatedHeader(available: 0)),
        ("truncated header", [1, 6, 0, 1, 0], .truncatedHeader(available: 5)),
        ("bad version", [7, 6, 0, 1, 0, 0, 0, 0], .unsupportedVersion(7)),
        ("length beyond buffer", [1, 6, 0, 1, 0xFF, 0xFF, 0, 0, 1, 2, 3], .truncatedContent(expected: 65_535, available: 3)),
    ]

    @Test(arguments: singleRecordErrors)
    func rejectsMalformedSingleRecord(_ example: (name: String, bytes: [UInt8], error: FastCGIWireError)) {
        #expect(throws: example.error, "\(example.name)") { try Record.decode(from: example.bytes) }
    }

    @Test(arguments: [(RecordType.beginRequest, 7), (.endRequest, 9), (.unknownType, 0)])
    func rejectsFixedBodiesOfWrongLength(_ example: (type: RecordType, length: Int)) {
        let content = [UInt8](repeating: 0, count: example.length)
        let expected = FastCGIWireError.invalidBodyLength(type: example.type, length: example.length)
        #expect(throws: expected) {
            switch example.type {
            case .beginRequest: _ = try BeginRequestBody(decoding: content)
            case .endRequest: _ = try EndRequestBody(decoding: content)
            default: _ = try UnknownTypeBody(decoding: content)
            }
        }
    }
}
