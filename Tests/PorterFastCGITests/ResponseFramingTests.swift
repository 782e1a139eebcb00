import FastCGIWire
import Porter
import PorterFastCGI
import PorterTesting
import Testing

/// Buffered responses are framed by Porter itself (one `writev`, no copy) instead of libfcgi's 8 KiB buffer:
/// the bytes on the wire must be exactly what the FastCGI spec and nginx expect, for every size.
@Suite("Buffered responses on the wire", .serialized)
struct ResponseFramingTests {
    static func server() throws -> FastCGITestServer {
        var registry = HandlerRegistry()
        try registry.add(name: "sized", path: "/sized", handler: ClosureHandler { ctx in
            let n = Int(ctx.request.query["n"] ?? "0") ?? 0
            ctx.response.contentType = "application/octet-stream"
            ctx.response.body = .buffer(Self.pattern(n))
        })
        return try FastCGITestServer(registry: registry)
    }

    static func pattern(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) } }

    /// What a response's records say: STDOUT content joined, and whether the framing was right.
    struct Parsed {
        var stdout: [UInt8] = []
        var problems: [String] = []
        var stdoutRecords = 0
    }

    /// Walks every record of a closed connection's bytes: STDOUT records (content ≤ 65535, padded to 8), one empty
    /// STDOUT, END_REQUEST (complete, app status 0) last with nothing after it, all with `requestID`.
    static func parse(_ bytes: [UInt8], requestID: UInt16) -> Parsed {
        var parsed = Parsed()
        var offset = 0
        var ended = false, stdoutClosed = false
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                guard let header = try? RecordHeader(decoding: raw, at: offset) else {
                    parsed.problems.append("bad header at \(offset)")
                    return
                }
                let content = offset + RecordHeader.size
                guard content + header.bodyLength <= raw.count else {
                    parsed.problems.append("record at \(offset) runs past the end")
                    return
                }
                if ended { parsed.problems.append("a record after END_REQUEST") }
                if header.requestID != requestID { parsed.problems.append("request id \(header.requestID)") }
                if header.bodyLength % 8 != 0 { parsed.problems.append("record at \(offset) not padded to 8") }
                switch header.type {
                case .stdout:
                    if stdoutClosed { parsed.problems.append("STDOUT after its end") }
                    if header.contentLength == 0 { stdoutClosed = true } else { parsed.stdoutRecords += 1 }
                    parsed.stdout += raw[content..<(content + Int(header.contentLength))]
                case .endRequest:
                    if !stdoutClosed { parsed.problems.append("END_REQUEST before the empty STDOUT") }
                    let body = try? EndRequestBody(decoding: Array(raw[content..<(content + 8)]))
                    if body != EndRequestBody() { parsed.problems.append("END_REQUEST \(String(describing: body))") }
                    ended = true
                default:
                    parsed.problems.append("unexpected \(header.type)")
                }
                offset = content + header.bodyLength
            }
        }
        if !ended { parsed.problems.append("no END_REQUEST") }
        return parsed
    }

    // Around libfcgi's old 8 KiB buffer, a record's 65,528-byte content, and the 1 MiB above which libfcgi frames.
    @Test(arguments: [0, 1, 7, 8, 8_100, 8_192, 16_900, 65_400, 65_528, 65_535, 65_536, 131_100, 1_048_400, 1_048_576, 1_200_000])
    func everySizeIsFramedExactly(size: Int) async throws {
        let t = try Self.server()
        for method in ["GET", "HEAD"] {
            var request = FastCGIRequest(method: method, uri: "/sized?n=\(size)")
            request.requestID = 7
            let client = t.client()
            try client.sendRaw(request.encoded())
            let (bytes, closed) = try await ConcurrentClients.offPool { try client.readAll(timeout: hangGuard) }
            #expect(closed, "a request without FCGI_KEEP_CONN ends with the connection closed")
            let parsed = Self.parse(bytes, requestID: 7)
            #expect(parsed.problems.isEmpty, "\(method) \(size): \(parsed.problems.prefix(5))")
            let response = try CGIResponse(parsing: parsed.stdout)
            #expect(response.status == 200)
            #expect(response.headers["Content-Length"] == "\(size)")
            #expect(response.body == (method == "GET" ? Self.pattern(size) : []), "\(method) \(size)")
            if parsed.stdout.count <= 1_048_576 {
                // Porter's framing: full 65,528-byte records, only the last one short.
                #expect(parsed.stdoutRecords == (parsed.stdout.count + 65_527) / 65_528, "\(method) \(size)")
            }
        }
        await t.stop()
    }

    @Test("a kept connection carries buffered responses of alternating sizes back to back")
    func keptConnection() async throws {
        let t = try Self.server()
        let client = t.client()
        let sizes = [16_900, 0, 200_000, 13, 65_536, 1_100_000, 5]
        let bodies = try await ConcurrentClients.offPool {
            try sizes.map { size -> [UInt8] in
                var request = FastCGIRequest.get("/sized?n=\(size)")
                request.keepConnection = true
                return try client.send(request).body
            }
        }
        #expect(bodies == sizes.map(Self.pattern))
        #expect(client.connectionsOpened == 1)
        client.close()
        await t.stop()
    }
}
