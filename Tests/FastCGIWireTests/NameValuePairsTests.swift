import Porter
import Testing
@testable import FastCGIWire

/// Go's net/http/fcgi `sizeTests`: length prefixes for 0, 127, 128, 1000 and 2^25-1.
@Suite struct NameValueLengthTests {
    static let sizes: [(length: Int, bytes: [UInt8])] = [
        (0, [0x00]),
        (127, [0x7F]),
        (128, [0x80, 0x00, 0x00, 0x80]),
        (1000, [0x80, 0x00, 0x03, 0xE8]),
        (33_554_431, [0x81, 0xFF, 0xFF, 0xFF]),
        (Int(Int32.max), [0xFF, 0xFF, 0xFF, 0xFF]),
    ]

    @Test(arguments: sizes)
    func encodesAndDecodesLength(_ example: (length: Int, bytes: [UInt8])) throws {
        #expect(NameValuePairs.encodedLength(example.length) == example.bytes)
        var offset = 0
        #expect(try NameValuePairs.decodeLength(example.bytes, at: &offset) == example.length)
        #expect(offset == example.bytes.count, "must consume all the bytes")
    }

    @Test(arguments: [0, 1, 127, 128, 1000, 70_000])
    func pairRoundTripsAtBoundary(_ length: Int) throws {
        let name = [UInt8](repeating: UInt8(ascii: "N"), count: length)
        let value = [UInt8](repeating: UInt8(ascii: "v"), count: 300 - min(length, 300))
        let pair = NameValuePair(name: name, value: value)
        let encoded = NameValuePairs.encode([pair])
        let prefix = (length <= 127 ? 1 : 4) + (value.count <= 127 ? 1 : 4)
        #expect(encoded.count == prefix + name.count + value.count)
        #expect(try NameValuePairs.decode(encoded) == [pair])
    }

    @Test func stringPairsRoundTripInOrder() throws {
        let pairs: [(name: String, value: String)] = [("REQUEST_METHOD", "GET"), ("EMPTY", ""), ("UTF8", "grüße"),
                                                      ("REQUEST_METHOD", "dup")]
        let decoded = try NameValuePairs.decode(NameValuePairs.encode(pairs))
        #expect(decoded.map(\.nameString) == pairs.map(\.name))
        #expect(decoded.map(\.valueString) == pairs.map(\.value))
    }

    /// Go's `nameValuePair11`: both lengths in one byte, then name, then value.
    @Test func matchesGoOneByteLayout() {
        let bytes = NameValuePairs.encode([NameValuePair("REQUEST_METHOD", "GET")])
        #expect(bytes == [14, 3] + Array("REQUEST_METHODGET".utf8))
    }

    struct Malformed: Sendable, CustomTestStringConvertible {
        var name: String, bytes: [UInt8], limit: Int, error: FastCGIWireError
        var testDescription: String { name }
        init(_ name: String, _ bytes: [UInt8], _ limit: Int, _ error: FastCGIWireError) {
            (self.name, self.bytes, self.limit, self.error) = (name, bytes, limit, error)
        }
    }

    static let malformed: [Malformed] = [
        Malformed("4-byte length cut off", [0x80, 0x00], Int(Int32.max), .truncatedNameValueLength(offset: 0)),
        Malformed("value length missing", [0x05], Int(Int32.max), .truncatedNameValueLength(offset: 1)),
        Malformed("name longer than content", [0x05, 0x00, 0x41, 0x42], Int(Int32.max),
         .nameValueLengthExceedsContent(offset: 0, declared: 5, remaining: 2)),
        // The 32-byte PARAMS content that aborts Debian's libfcgi 2.4.2: name+value lengths sum past 2^31.
        Malformed("lengths summing past 2^31", [0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x10] + [UInt8](repeating: 0x41, count: 24),
         Int(Int32.max), .nameValueLengthExceedsContent(offset: 0, declared: Int(Int32.max) + 16, remaining: 24)),
        Malformed("second pair oversized", [0x01, 0x01, 0x41, 0x42, 0x81, 0xFF, 0xFF, 0xFF, 0x00], Int(Int32.max),
         .nameValueLengthExceedsContent(offset: 4, declared: 33_554_431, remaining: 0)),
        Malformed("over the configured limit", [0x80, 0x01, 0x00, 0x01, 0x00] + [UInt8](repeating: 0x41, count: 65_537), 65_536,
         .nameValueTooLong(declared: 65_537, limit: 65_536)),
    ]

    @Test(arguments: malformed)
    func rejectsMalformedPairs(_ example: Malformed) {
        #expect(throws: example.error, "\(example.name)") {
            try NameValuePairs.decode(example.bytes, limit: example.limit)
        }
    }
}

/// A request's parameters built straight from PARAMS content: what a lookup, the iteration order and a repeat give.
@Suite("CGI parameters from a PARAMS stream") struct ParametersFromPairsTests {
    static let cases: [(name: String, pairs: [NameValuePair], lookups: [(String, String?)], order: [String])] = [
        ("nginx's few", [.init("REQUEST_METHOD", "GET"), .init("DOCUMENT_URI", "/a"), .init("HTTP_HOST", "x")],
         [("REQUEST_METHOD", "GET"), ("HTTP_HOST", "x"), ("request_method", nil)], ["REQUEST_METHOD", "DOCUMENT_URI", "HTTP_HOST"]),
        ("a repeat: the last counts, in its first place", [.init("A", "1"), .init("B", "2"), .init("A", "3")],
         [("A", "3"), ("B", "2")], ["B", "A"]),
        ("empty value, 4-byte lengths", [.init("EMPTY", ""), .init("LONG", String(repeating: "v", count: 300))],
         [("EMPTY", ""), ("LONG", String(repeating: "v", count: 300))], ["EMPTY", "LONG"]),
        ("a 200-byte name (4-byte length prefix)", [.init(String(repeating: "N", count: 200), "v"), .init("B", "2")],
         [(String(repeating: "N", count: 200), "v"), ("B", "2")], [String(repeating: "N", count: 200), "B"]),
        ("a name holding `=` stays whole", [.init("A=B", "c")], [("A=B", "c"), ("A", nil)], ["A=B"]),
        ("NUL ends a value, as libfcgi's envp would", [NameValuePair(name: Array("P".utf8), value: Array("/x".utf8) + [0] + Array(".rss".utf8))],
         [("P", "/x")], ["P"]),
        ("NUL ends a name", [NameValuePair(name: Array("N".utf8) + [0, 65], value: Array("v".utf8))], [("N", "v")], ["N"]),
        ("none", [], [("A", nil)], []),
    ]

    @Test("lookups and order", arguments: cases)
    func decodes(_ c: (name: String, pairs: [NameValuePair], lookups: [(String, String?)], order: [String])) throws {
        let bytes = NameValuePairs.encode(c.pairs)
        let parameters = try bytes.withUnsafeBytes { raw in
            Result { () throws(FastCGIWireError) in try CGIParameters(nameValuePairs: raw) }
        }.get()
        for (name, value) in c.lookups { #expect(parameters[name] == value, "\(c.name): \(name)") }
        #expect(parameters.map(\.key) == c.order, "\(c.name)")
    }

    @Test("set, replace and remove keep every other parameter, long ones included")
    func mutates() throws {
        let long = String(repeating: "v", count: 300)
        var parameters = try NameValuePairs.encode([.init("A", "1"), .init("LONG", long), .init("A", "2")]).withUnsafeBytes { raw in
            Result { () throws(FastCGIWireError) in try CGIParameters(nameValuePairs: raw) }
        }.get()
        parameters["B"] = String(repeating: "b", count: 200)
        parameters["A"] = "3"
        #expect(parameters.map(\.key) == ["LONG", "B", "A"])
        #expect(parameters["A"] == "3" && parameters["LONG"] == long && parameters["B"]?.count == 200)
        parameters["LONG"] = nil
        #expect(parameters.dictionary == ["A": "3", "B": String(repeating: "b", count: 200)])
        parameters["C"] = "x\u{0}y"
        #expect(parameters["C"] == "x", "NUL ends a value set by hand too")
    }

    @Test("a pair longer than the stream is refused, nothing built")
    func refusesTruncated() {
        let bytes: [UInt8] = [100, 1, 65]
        let result = bytes.withUnsafeBytes { raw in Result { () throws(FastCGIWireError) in try CGIParameters(nameValuePairs: raw) } }
        guard case .failure(let error) = result, case .nameValueLengthExceedsContent = error else {
            Issue.record("expected nameValueLengthExceedsContent, got \(result)")
            return
        }
    }
}
