import FastCGIWire
import Porter
import PorterFastCGI
import PorterTesting
import Synchronization
import Testing
import Glibc

/// Per-request body limits decided from the request head, and large bodies spilled to a temporary file.
@Suite("Request bodies: limits per mapping, spilling to a file", .serialized)
struct BodyLimitTests {
    /// Counts handler runs (a refused request never reaches its handler).
    final class Runs: Sendable {
        let count = Atomic<Int>(0)
        var value: Int { count.load(ordering: .relaxed) }
    }

    /// `/small` (POST, server default limit), `/get-only` (GET: no body), `/upload` (POST, 8 MiB; echoes the
    /// body back streamed from its storage and reports where it lived).
    static func registry(runs: Runs, spillDirectory: String = "/nonexistent") throws -> HandlerRegistry {
        var registry = HandlerRegistry()
        try registry.add(name: "small", verbs: "POST", path: "/small", handler: ClosureHandler { ctx in
            runs.count.add(1, ordering: .relaxed)
            ctx.response.write("got \(ctx.request.body.count)\n")
        })
        try registry.add(name: "get-only", verbs: "GET", path: "/get-only", handler: ClosureHandler { ctx in
            runs.count.add(1, ordering: .relaxed)
            ctx.response.write("ok\n")
        })
        try registry.add(name: "upload", verbs: "POST", path: "/upload", source: .instance(.sync(ClosureHandler { ctx in
            runs.count.add(1, ordering: .relaxed)
            let body = ctx.request.body
            ctx.response.headers["X-Storage"] = body.storage == .file ? "file" : "memory"
            ctx.response.headers["X-Spill-Files-Open"] = String(openSpillFiles(in: spillDirectory))
            ctx.response.headers["Content-Length"] = String(body.count)
            ctx.response.body = .stream { writer in
                for try await chunk in body.chunks(size: 100_000) { try await writer.write(chunk) }
            }
        })), maxBodyBytes: 8 << 20)
        return registry
    }

    /// BEGIN_REQUEST and PARAMS of `request`, without any STDIN record.
    static func headOnly(_ request: FastCGIRequest) -> [UInt8] {
        Record(type: .beginRequest, requestID: 1,
               content: BeginRequestBody(role: .responder, keepConnection: request.keepConnection).encoded).encoded
            + Record.stream(.params, requestID: 1, content: NameValuePairs.encode(request.params))
    }

    @Test("a declared CONTENT_LENGTH over the limit gets 413 before the body is read, and the connection closes")
    func declaredTooLarge() async throws {
        let runs = Runs()
        let t = try FastCGITestServer(registry: try Self.registry(runs: runs)) { $0.maxBodyBytes = 1000 }
        var request = FastCGIRequest(method: "POST", uri: "/small", body: [UInt8](repeating: 7, count: 5000))
        request.keepConnection = true
        let client = t.client()
        // Not one STDIN byte is sent: an answer proves the server did not wait for the body.
        try client.sendRaw(Self.headOnly(request))
        let response = try await ConcurrentClients.offPool { try client.receiveResponse() }
        #expect(response.status == 413)
        #expect(try await ConcurrentClients.offPool { client.waitForClose(timeout: .seconds(10)) }, "connection closed")
        #expect(runs.value == 0, "the handler never ran")
        #expect(t.server.statistics.oversizedRequests.load(ordering: .relaxed) == 1)
        await t.stop()
    }

    @Test("a body growing past the limit while it is read gets 413 and the kept connection is closed")
    func growsTooLarge() async throws {
        let runs = Runs()
        let t = try FastCGITestServer(registry: try Self.registry(runs: runs)) { $0.maxBodyBytes = 1000 }
        // CONTENT_LENGTH claims 10 bytes; STDIN carries 5000.
        var request = FastCGIRequest(method: "POST", uri: "/small", headers: ["Content-Length": "10"],
                                     body: [UInt8](repeating: 7, count: 5000))
        request.keepConnection = true
        let client = t.client()
        let response = try await ConcurrentClients.offPool { [request] in try client.send(request) }
        #expect(response.status == 413)
        #expect(try await ConcurrentClients.offPool { client.waitForClose(timeout: .seconds(10)) }, "connection closed, not kept")
        #expect(runs.value == 0)
        #expect(try await t.fetch(FastCGIRequest(method: "POST", uri: "/small", body: [1, 2, 3])).bodyText == "got 3\n")
        await t.stop()
    }

    @Test("a GET-only mapping accepts no body: 413 before reading; without a body it answers")
    func bodilessVerbs() async throws {
        let runs = Runs()
        let t = try FastCGITestServer(registry: try Self.registry(runs: runs))
        let client = t.client()
        try client.sendRaw(Self.headOnly(FastCGIRequest(method: "GET", uri: "/get-only", body: [1, 2, 3])))
        #expect(try await ConcurrentClients.offPool { try client.receiveResponse() }.status == 413)
        client.close()
        #expect(runs.value == 0)
        #expect(try await t.fetch(.get("/get-only")).bodyText == "ok\n")
        #expect(runs.value == 1)
        await t.stop()
    }

    @Test("the server default is 1 MiB; a mapping's own limit replaces it")
    func mappingLimitOverridesDefault() async throws {
        #expect(FastCGIServerConfiguration(listen: .tcp(host: "127.0.0.1", port: 9000)).maxBodyBytes == 1 << 20)
        let runs = Runs()
        let t = try FastCGITestServer(registry: try Self.registry(runs: runs))
        let twoMiB = [UInt8](repeating: 1, count: 2 << 20)
        #expect(try await refused(FastCGIRequest(method: "POST", uri: "/small", body: twoMiB), by: t) == 413)
        #expect(try await t.fetch(FastCGIRequest(method: "POST", uri: "/upload", body: twoMiB)).body.count == 2 << 20)
        #expect(try await refused(FastCGIRequest(method: "POST", uri: "/upload", body: [UInt8](repeating: 1, count: 9 << 20)), by: t) == 413)
        #expect(runs.value == 1)
        await t.stop()
    }

    /// Sends only the head of `request` (a refused body is never read, so sending megabytes would only meet
    /// a closed socket) and returns the answer's status.
    func refused(_ request: FastCGIRequest, by t: FastCGITestServer) async throws -> Int {
        let client = t.client()
        defer { client.close() }
        try client.sendRaw(Self.headOnly(request))
        return try await ConcurrentClients.offPool { try client.receiveResponse() }.status
    }

    @Test("a 5 MiB body is spilled to a temporary file, read back byte for byte, and the file is gone after the request")
    func spilledBody() async throws {
        let runs = Runs()
        let directory = FastCGITestServer.makeShortTemporaryDirectory()
        defer { rmdir(directory) }
        let t = try FastCGITestServer(registry: try Self.registry(runs: runs, spillDirectory: directory)) {
            $0.bodyTemporaryDirectory = directory
        }
        let body = (0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let response = try await t.fetch(FastCGIRequest(method: "POST", uri: "/upload", body: body))
        #expect(response.status == 200)
        #expect(response.headers["X-Storage"] == "file")
        #expect(response.headers["X-Spill-Files-Open"] == "1", "the handler saw its body's open temporary file")
        #expect(response.body == body, "read back byte for byte")
        #expect(openSpillFiles(in: directory) == 0, "closed before END_REQUEST")
        #expect(t.server.statistics.spilledBodies.load(ordering: .relaxed) == 1)
        let small = try await t.fetch(FastCGIRequest(method: "POST", uri: "/upload", body: [1, 2, 3]))
        #expect(small.headers["X-Storage"] == "memory" && small.body == [1, 2, 3])
        await t.stop()
    }
}

/// How many of this process's descriptors point at a (deleted) spilled body file in `directory`.
func openSpillFiles(in directory: String) -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var count = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard name != ".", name != ".." else { continue }
        var target = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
        guard n > 0 else { continue }
        let path = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if path.hasPrefix(directory + "/porter-body-") { count += 1 }
    }
    return count
}
