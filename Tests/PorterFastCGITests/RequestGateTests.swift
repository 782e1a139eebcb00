@testable import PorterFastCGI
import FastCGIWire
import Porter
import Testing

@Suite("Request gate: when libfcgi may be handed a connection")
struct RequestGateTests {
    static let full = FastCGIRequest.post("/x", text: "hello").encoded()
    static let cases: [(name: String, bytes: [UInt8], verdict: RequestGate.Verdict)] = [
        ("nothing", [], .incomplete),
        ("half a header", Array(full[0..<4]), .incomplete),
        ("BEGIN only", Array(full[0..<16]), .incomplete),
        ("whole request", full, .ready(stdinComplete: true)),
        ("all but the STDIN terminator", Array(full[0..<(full.count - 8)]), .ready(stdinComplete: false)),
        ("wrong version", [2] + Array(full[1...]), .malformed("unsupported FastCGI version 2")),
        ("GET_VALUES then the request", record(9, id: 0, [1, 0, 65]) + full, .ready(stdinComplete: true)),
        ("second BEGIN", begin() + begin(id: 2), .malformed("second BEGIN_REQUEST on one connection (multiplexing)")),
        ("role 3", begin(role: 3), .malformed("role 3 is not RESPONDER")),
        ("PARAMS split into 7-byte records", FastCGIRequest.get("/a").encoded(maximumParamsRecordLength: 7), .ready(stdinComplete: true)),
        ("pair longer than PARAMS", begin() + record(4, [100, 1, 65]) + record(4), .malformed("name-value pair longer than PARAMS")),
        ("pair longer than PARAMS, split over records", begin() + record(4, [100]) + record(4, [1, 65]) + record(4),
         .malformed("name-value pair longer than PARAMS")),
        ("lengths summing to 2^31", begin() + record(4, [0xC0, 0, 0, 0, 0xC0, 0, 0, 0, 65, 66]) + record(4),
         .malformed("name-value pair longer than PARAMS")),
        ("truncated 4-byte length", begin() + record(4, [0x80, 0]) + record(4), .malformed("truncated name-value length")),
        ("PARAMS over 64 KiB", begin() + record(4, [UInt8](repeating: 1, count: 40000)) + record(4, [UInt8](repeating: 1, count: 40000)),
         .malformed("PARAMS larger than 65536 bytes")),
        ("STDIN before the end of PARAMS", begin() + record(5, [1]), .malformed("STDIN before the end of PARAMS")),
        ("ABORT before the request", begin() + record(2), .malformed("request aborted before it was read")),
        ("unknown record type", record(42, [1]), .malformed("unexpected record type 42")),
        // Found by bench/fuzz (gate): an end-of-PARAMS record whose padding had not arrived was `ready`.
        ("end of PARAMS, its padding not yet here", begin() + record(4, [1, 1, 65, 66]) + Array(record(4, padding: 200)[0..<20]),
         .incomplete),
        ("end of PARAMS with its padding", begin() + record(4, [1, 1, 65, 66]) + record(4, padding: 200), .ready(stdinComplete: false)),
    ]

    @Test("verdicts", arguments: cases)
    func verdicts(_ c: (name: String, bytes: [UInt8], verdict: RequestGate.Verdict)) {
        let gate = RequestGate(limits: .init())
        #expect(c.bytes.withUnsafeBytes { gate.inspect($0) } == c.verdict, "\(c.name)")
    }

    @Test("a ready verdict locates the PARAMS content: the request's parameters, in one record or reassembled", arguments: [65535, 50, 7])
    func locatesParams(recordLength: Int) {
        let request = FastCGIRequest.get("/a?b=c", headers: ["X-Long": String(repeating: "v", count: 300)])
        let gate = RequestGate(limits: .init())
        let parameters = request.encoded(maximumParamsRecordLength: recordLength).withUnsafeBytes { raw in
            var params = ParamsContent()
            #expect(gate.inspect(raw, params: &params) == .ready(stdinComplete: true))
            return params.parameters(in: raw)
        }
        #expect(parameters.dictionary == Dictionary(request.params.map { ($0.nameString, $0.valueString) }, uniquingKeysWith: { $1 }))
        #expect(parameters["HTTP_X_LONG"]?.count == 300)
        #expect(parameters["QUERY_STRING"] == "b=c")
    }

    @Test("every prefix of a valid request is incomplete or ready, never malformed")
    func prefixes() {
        let gate = RequestGate(limits: .init())
        let bytes = FastCGIRequest.get("/a?b=c", headers: ["X-Long": String(repeating: "v", count: 300)]).encoded(maximumParamsRecordLength: 50)
        for cut in 0...bytes.count {
            let verdict = Array(bytes[0..<cut]).withUnsafeBytes { gate.inspect($0) }
            if case .malformed(let why) = verdict { Issue.record("prefix \(cut) malformed: \(why)") }
        }
    }
}
