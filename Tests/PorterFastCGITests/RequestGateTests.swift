@testable import PorterFastCGI
import FastCGIWire
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
    ]

    @Test("verdicts", arguments: cases)
    func verdicts(_ c: (name: String, bytes: [UInt8], verdict: RequestGate.Verdict)) {
        let gate = RequestGate(limits: .init())
        #expect(c.bytes.withUnsafeBytes { gate.inspect($0) } == c.verdict, "\(c.name)")
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
