import FastCGIWire
import PorterFastCGI
import PorterTesting
import Testing

/// Raw byte sequences that are not FastCGI requests Porter serves: each must get its connection closed
/// while the process keeps serving.
let malformedInputs: [(name: String, bytes: [UInt8])] = [
    ("HTTP text", Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
    ("random bytes", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }),
    ("wrong version", record(1, [0, 1, 0, 0, 0, 0, 0, 0], version: 2)),
    ("unknown record type first", record(42, [1, 2, 3])),
    ("STDOUT from the client", record(6, [1, 2, 3])),
    ("unknown role (AUTHORIZER)", begin(role: 2) + record(4) + record(5)),
    ("unknown role 99", begin(role: 99) + record(4) + record(5)),
    ("BEGIN with id 0", begin(id: 0) + record(4, id: 0) + record(5, id: 0)),
    ("multiplexed: second BEGIN", begin(id: 1) + begin(id: 2) + record(4, id: 1) + record(5, id: 1)),
    ("PARAMS for another id", begin(id: 1) + record(4, id: 2, [1, 1, 65, 66]) + record(4, id: 2) + record(5, id: 2)),
    ("STDIN before PARAMS end", begin() + record(5, [1, 2])),
    ("overflowing name-value lengths (libfcgi int overflow assert)",
     begin() + record(4, [0xC0, 0, 0, 0, 0xC0, 0, 0, 0, 65, 66]) + record(4) + record(5)),
    ("2^31-1 name length", begin() + record(4, [0xFF, 0xFF, 0xFF, 0xFF, 1, 65]) + record(4) + record(5)),
    ("pair longer than PARAMS", begin() + record(4, [100, 1, 65]) + record(4) + record(5)),
    ("PARAMS over 64 KiB", begin() + (0..<2).flatMap { _ in record(4, [UInt8](repeating: 1, count: 40000)) } + record(4) + record(5)),
    ("ABORT before the request", begin() + record(2)),
    ("BEGIN body too short", record(1, [0, 1, 0])),
]

@Suite("Malformed FastCGI input closes the connection; the server keeps serving", .serialized)
struct MalformedInputTests {
    @Test("raw bytes", arguments: malformedInputs)
    func malformed(_ input: (name: String, bytes: [UInt8])) async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let bad = t.client()
        try bad.sendRaw(input.bytes)
        // Reads until the server closes (the hang guard only bounds a server that never does).
        let (reply, closed) = try await ConcurrentClients.offPool { try bad.readAll(timeout: hangGuard) }
        #expect(closed, "\(input.name): connection closed")
        #expect(reply.count < 1000, "\(input.name): no response served")
        bad.close()
        #expect(try await t.fetch(.get("/hello")).status == 200, "\(input.name): still serving")
        #expect(t.server.statistics.rejectedConnections.load(ordering: .relaxed) >= 1 || reply.isEmpty)
        await t.stop()
    }

    @Test("truncated requests whose client goes away")
    func truncatedThenClose() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let full = FastCGIRequest.get("/hello").encoded()
        for cut in [3, 8, 12, 20, full.count / 2, full.count - 9] {
            let c = t.client()
            try c.sendRaw(Array(full[0..<cut]))
            c.close()
        }
        #expect(try await t.fetch(.get("/hello")).status == 200)
        await t.stop()
    }

    @Test("half-sent requests held open do not block others: 20 of them on 2 threads, and a fresh request is served")
    func slowlorisDoesNotBlock() async throws {
        // The header timeout is far away: the held connections stay open for the whole test.
        let t = try FastCGITestServer(registry: try transportRegistry()) {
            $0.threads = 2
            $0.requestHeaderTimeout = hangGuard * 2
        }
        let full = FastCGIRequest.get("/hello").encoded()
        var held: [FastCGIClient] = []
        for _ in 0..<20 {
            let c = t.client()
            try c.sendRaw(Array(full[0..<20]))
            held.append(c)
        }
        let statistics = t.server.statistics
        try await waitUntil("20 held connections accepted (open: \(statistics.openConnections.load(ordering: .relaxed)))") {
            statistics.acceptedConnections.load(ordering: .relaxed) == 20
        }
        #expect(try await t.fetch(.get("/hello")).status == 200)
        #expect(statistics.openConnections.load(ordering: .relaxed) >= 20, "the half-sent connections were still held")
        for c in held { #expect(!c.waitForClose(timeout: .milliseconds(1)), "held connection still open") }
        for c in held { c.close() }
        await t.stop()
    }

    @Test("half-sent requests held open are dropped after the header timeout")
    func slowlorisIsDropped() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry()) {
            $0.threads = 2
            $0.requestHeaderTimeout = .seconds(1)
        }
        let full = FastCGIRequest.get("/hello").encoded()
        var held: [FastCGIClient] = []
        for _ in 0..<20 {
            let c = t.client()
            try c.sendRaw(Array(full[0..<20]))
            held.append(c)
        }
        // Each read returns when the server closes; the hang guard only bounds a server that never does.
        for c in held { #expect(try await ConcurrentClients.offPool { c.waitForClose(timeout: hangGuard) }, "held connection dropped") }
        #expect(try await t.fetch(.get("/hello")).status == 200, "still serving")
        await t.stop()
    }

    @Test("a NUL byte ends a parameter, as it would a C string: DOCUMENT_URI /hello<NUL>.rss routes as /hello")
    func nulEndsParameter() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let response = try await t.fetch(FastCGIRequest.get("/other").with(param: "DOCUMENT_URI", "/hello\u{0}.rss"))
        #expect(response.status == 200)
        #expect(response.bodyText == "Hello, world\n")
        await t.stop()
    }

    @Test("params split across records and a GET_VALUES before the request are served")
    func wellFormedEdges() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let c = t.client()
        try c.sendRaw(FastCGIRequest.get("/hello").encoded(maximumParamsRecordLength: 7, maximumStdinRecordLength: 1))
        #expect(try await ConcurrentClients.offPool { try c.receiveResponse() }.bodyText == "Hello, world\n")
        c.close()
        await t.stop()
    }
}
