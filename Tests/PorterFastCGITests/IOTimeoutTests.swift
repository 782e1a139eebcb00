import FastCGIWire
import Glibc
import Porter
import PorterFastCGI
import PorterTesting
import Testing

/// `io_timeout` frees a worker thread that a peer holds in a blocking read or write. Porter sets the timeouts on a
/// connection only before an operation that can block (a body not yet buffered, a large or streamed response, any
/// request after a connection's first), so these are the cases that must still end: with one worker thread, a
/// second client is served only once the held one was given up.
@Suite("I/O timeouts free a thread a peer holds", .serialized)
struct IOTimeoutTests {
    static func server() throws -> FastCGITestServer {
        var registry = try transportRegistry()
        try registry.add(name: "big", path: "/big", handler: ClosureHandler { ctx in
            ctx.response.contentType = "application/octet-stream"
            ctx.response.write([UInt8](repeating: 42, count: 60 * 1024))
        })
        return try FastCGITestServer(pipeline: Pipeline(registry: registry, modules: [])) {
            $0.threads = 1
            $0.ioTimeoutSeconds = 1
            $0.requestHeaderTimeout = hangGuard * 2
        }
    }

    @Test("a body that stops arriving: its read times out, the connection closes, the next client is served")
    func stalledBody() async throws {
        let t = try Self.server()
        let held = t.client()
        let request = FastCGIRequest.post("/echo", body: [UInt8](repeating: 7, count: 1000)).encoded()
        // Everything up to the first 10 STDIN bytes: the head is complete, the body is not.
        var offset = 0
        while request[offset + 1] != 5 || (Int(request[offset + 4]) << 8 | Int(request[offset + 5])) == 0 {
            offset += 8 + (Int(request[offset + 4]) << 8 | Int(request[offset + 5])) + Int(request[offset + 6])
        }
        try held.sendRaw(Array(request[0..<(offset + 8 + 10)]))
        let statistics = t.server.statistics
        try await waitUntil("the held request started") { statistics.acceptedRequests.load(ordering: .relaxed) >= 1 }
        #expect(try await t.fetch(.get("/hello")).status == 200, "served once the held read timed out")
        #expect(held.waitForClose(timeout: hangGuard), "the held connection was closed")
        held.close()
        await t.stop()
    }

    @Test("a kept connection whose peer sends requests but never reads: the write that fills the socket times out")
    func unreadResponses() async throws {
        let t = try Self.server()
        let held = try UnreadingSocket(path: t.socketPath)
        defer { held.close() }
        let statistics = t.server.statistics
        // One request at a time (libfcgi cannot take pipelined requests), each 60 KiB response left unread: the
        // first fits the empty socket buffer; a later write blocks until io_timeout gives up and closes the
        // connection (without the timeout, `activeRequests` would stay 1 and this would hang).
        var sent = 0
        while sent < 16 && statistics.openConnections.load(ordering: .relaxed) > 0 || sent == 0 {
            var request = FastCGIRequest.get("/big")
            request.keepConnection = true
            #expect(held.send(request.encoded()))
            sent += 1
            try await waitUntil("request \(sent) started") { statistics.acceptedRequests.load(ordering: .relaxed) >= sent }
            try await waitUntil("request \(sent) finished or given up") { statistics.activeRequests.load(ordering: .relaxed) == 0 }
        }
        #expect(statistics.openConnections.load(ordering: .relaxed) == 0, "the server closed the unread connection")
        #expect(sent > 1 && sent < 16, "a later request's write blocked (sent \(sent))")
        #expect(try await t.fetch(.get("/hello")).status == 200)
        await t.stop()
    }
}

/// A client socket that writes and never reads (the test client drains responses while it writes).
final class UnreadingSocket {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw SocketError(.notConnected) }
    }

    /// Writes all of `bytes`; false if the peer is gone.
    func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    func close() { _ = Glibc.close(fd) }
}
