import FastCGIWire
import Porter
import PorterFastCGI
import PorterTesting
import Synchronization
import Testing
import Glibc

/// The handlers every transport test uses.
func transportRegistry() throws -> HandlerRegistry {
    var registry = HandlerRegistry()
    try registry.add(name: "hello", verbs: "GET", path: "/hello", handler: ClosureHandler { ctx in
        ctx.response.contentType = "text/plain"
        ctx.response.write("Hello, world\n")
    })
    try registry.add(name: "echo", path: "/echo", handler: ClosureHandler { ctx in
        ctx.response.contentType = "application/octet-stream"
        ctx.response.headers["X-Method"] = ctx.request.method.rawValue
        ctx.response.headers["X-Worker"] = WorkerCheck.isWorker ? "yes" : "no"
        ctx.response.headers["X-Query"] = ctx.request.query["q"] ?? ""
        ctx.response.write(ctx.request.body.bytes)
    })
    try registry.add(name: "slow", path: "/slow", handler: AsyncClosureHandler { ctx in
        let ms = Int(ctx.request.query["ms"] ?? "100") ?? 100
        try await Task.sleep(for: .milliseconds(ms))
        ctx.response.write("slept \(ms)\n")
    })
    try registry.add(name: "stream", path: "/stream", handler: ClosureHandler { ctx in
        let chunks = Int(ctx.request.query["chunks"] ?? "10") ?? 10
        ctx.response.contentType = "application/octet-stream"
        ctx.response.body = .stream { writer in
            for i in 0..<chunks { try await writer.write([UInt8](repeating: UInt8(i % 251), count: 64 * 1024)) }
        }
    })
    return registry
}

/// A thread-safe list of statuses.
final class StatusList: Sendable {
    private let items = Mutex<[Int]>([])
    func append(_ s: Int) { items.withLock { $0.append(s) } }
    var all: [Int] { items.withLock { $0 } }
}

enum WorkerCheck {
    static var isWorker: Bool { WorkerThread.isCurrent }
}

/// One FastCGI record, hand-made (for malformed input).
func record(_ type: UInt8, id: UInt16 = 1, _ content: [UInt8] = [], padding: UInt8 = 0, version: UInt8 = 1) -> [UInt8] {
    [version, type, UInt8(id >> 8), UInt8(id & 0xFF), UInt8(content.count >> 8), UInt8(content.count & 0xFF), padding, 0]
        + content + [UInt8](repeating: 0, count: Int(padding))
}

func begin(id: UInt16 = 1, role: UInt16 = 1, keep: Bool = false) -> [UInt8] {
    record(1, id: id, [UInt8(role >> 8), UInt8(role & 0xFF), keep ? 1 : 0, 0, 0, 0, 0, 0])
}

@Suite("FastCGI transport (in-process server, real socket)", .serialized)
struct FastCGIServerTests {
    @Test("GET, POST with a body, HEAD without a body, 404")
    func basics() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let hello = try await t.fetch(.get("/hello"))
        #expect(hello.status == 200)
        #expect(hello.bodyText == "Hello, world\n")
        #expect(hello.protocolStatus == .requestComplete)
        let body = (0..<300_000).map { UInt8($0 % 256) }
        let echo = try await t.fetch(FastCGIRequest(method: "POST", uri: "/echo?q=%41", body: body))
        #expect(echo.body == body)
        #expect(echo.headers["X-Query"] == "A")
        let head = try await t.fetch(.head("/hello"))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.headers["Content-Length"] == "13")
        #expect(try await t.fetch(.get("/missing")).status == 404)
        await t.stop()
    }

    @Test("a kept connection serves many requests; the server parks it between them")
    func keepConnection() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let client = t.client()
        let queries = try await ConcurrentClients.offPool {
            try (0..<200).map { i -> String in
                var request = FastCGIRequest.get("/echo?q=\(i)")
                request.keepConnection = true
                return try client.send(request).headers["X-Query"] ?? ""
            }
        }
        #expect(queries == (0..<200).map { "\($0)" })
        #expect(client.connectionsOpened == 1)
        #expect(t.server.statistics.acceptedConnections.load(ordering: .relaxed) == 1)
        try await waitUntil("the kept connection to be parked (parked: \(t.server.statistics.parkedConnections.load(ordering: .relaxed)))") {
            t.server.statistics.parkedConnections.load(ordering: .relaxed) == 1
        }
        client.close()
        await t.stop()
    }

    @Test("idle kept connections do not hold threads: 64 kept connections on 2 threads are all parked, and all still served")
    func keptConnectionsDoNotPinThreads() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry()) { $0.threads = 2 }
        let clients = (0..<64).map { _ in t.client() }
        func sendOnEach() async -> [Result<Int, any Error>] {
            await ConcurrentClients.run(64) { i -> Int in
                var r = FastCGIRequest.get("/hello")
                r.keepConnection = true
                return try clients[i].send(r).status
            }
        }
        let statistics = t.server.statistics
        #expect(await sendOnEach().allSatisfy { (try? $0.get()) == 200 })
        // 64 idle kept connections and 2 threads: they can only all be idle if none holds a thread.
        try await waitUntil("64 parked connections (parked: \(statistics.parkedConnections.load(ordering: .relaxed)))") {
            statistics.parkedConnections.load(ordering: .relaxed) == 64
        }
        #expect(statistics.threads.load(ordering: .relaxed) == 2)
        try await waitUntil("both worker threads idle in epoll (idle: \(statistics.idleThreads.load(ordering: .relaxed)))") {
            statistics.idleThreads.load(ordering: .relaxed) == 2
        }
        // A fresh connection is served while all 64 stay open, and so is a second request on every kept one
        // (with threads pinned to connections, these would wait until a kept connection closed).
        #expect(try await t.fetch(.get("/hello")).status == 200)
        #expect(statistics.openConnections.load(ordering: .relaxed) >= 64)
        #expect(await sendOnEach().allSatisfy { (try? $0.get()) == 200 })
        #expect(clients.allSatisfy { $0.connectionsOpened == 1 }, "every second request reused its kept connection")
        for c in clients { c.close() }
        await t.stop()
    }

    @Test("sync handlers run on worker threads, also after an async module")
    func syncOnWorkers() async throws {
        let asyncModule = ClosureModule(name: "async") { events in
            events.onAsync(.acquireRequestState) { _ in try await Task.sleep(for: .milliseconds(1)) }
        }
        let t = try FastCGITestServer(registry: try transportRegistry(), modules: [asyncModule])
        for _ in 0..<5 { #expect(try await t.fetch(.get("/echo")).headers["X-Worker"] == "yes") }
        await t.stop()
    }

    @Test("async handlers hold no thread: 200 requests are inside their await at once on 4 worker threads")
    func asyncDoesNotPinThreads() async throws {
        let gate = TestGate()
        var registry = try transportRegistry()
        try registry.add(name: "gated", path: "/gated", handler: AsyncClosureHandler { ctx in
            try await gate.pass()
            ctx.response.write("through\n")
        })
        let t = try FastCGITestServer(registry: registry) {
            $0.threads = 4
            $0.minThreads = 4
        }
        let statistics = t.server.statistics
        let load = Task { await ConcurrentClients.run(200) { _ in try t.send(.get("/gated")).status } }
        // All 200 handlers are suspended at the gate at the same moment, with 4 worker threads in the server:
        // if a waiting handler held a thread, at most 4 could be there.
        try await waitUntil("200 handlers waiting at the gate (now \(gate.waiting), arrived \(gate.arrived))") { gate.waiting == 200 }
        #expect(statistics.activeRequests.load(ordering: .relaxed) == 200)
        #expect(statistics.threads.load(ordering: .relaxed) == 4)
        try await waitUntil("all 4 worker threads idle while 200 requests wait (idle: \(statistics.idleThreads.load(ordering: .relaxed)))") {
            statistics.idleThreads.load(ordering: .relaxed) == 4
        }
        gate.open()
        let results = await load.value
        #expect(results.allSatisfy { (try? $0.get()) == 200 })
        #expect(statistics.maxActiveRequests.load(ordering: .relaxed) == 200)
        await t.stop()
    }

    @Test("a streamed body arrives complete")
    func streaming() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let r = try await t.fetch(.get("/stream?chunks=40"))
        #expect(r.body.count == 40 * 64 * 1024)
        #expect(r.body[64 * 1024 * 3] == 3)
        await t.stop()
    }

    @Test("a body over the limit gets 413 and the connection is closed")
    func oversized() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry()) { $0.maxBodyBytes = 1000 }
        let r = try await t.fetch(FastCGIRequest(method: "POST", uri: "/echo", body: [UInt8](repeating: 1, count: 5000)))
        #expect(r.status == 413)
        #expect(try await t.fetch(FastCGIRequest(method: "POST", uri: "/echo", body: [1, 2, 3])).body == [1, 2, 3])
        await t.stop()
    }

    @Test("graceful stop: in-flight requests finish, new connections are refused, the socket is removed")
    func gracefulStop() async throws {
        let gate = TestGate()
        var registry = try transportRegistry()
        try registry.add(name: "gated", path: "/gated", handler: AsyncClosureHandler { ctx in
            try await gate.pass()
            ctx.response.write("finished\n")
        })
        let t = try FastCGITestServer(registry: registry)
        let inflight = Task.detached { await ConcurrentClients.run(20) { _ in try t.send(.get("/gated")) } }
        try await waitUntil("20 requests in flight (at the gate: \(gate.waiting))") { gate.waiting == 20 }
        t.server.shutdown()
        #expect(access(t.socketPath, F_OK) != 0, "socket file removed at once")
        await #expect(throws: (any Error).self) { try await t.fetch(.get("/hello")) }
        #expect(gate.waiting == 20, "the in-flight requests were not cut off")
        gate.open()
        let responses = await inflight.value.map { try? $0.get() }
        await t.server.waitUntilStopped()
        #expect(responses.map { $0?.status ?? -1 } == [Int](repeating: 200, count: 20))
        #expect(responses.allSatisfy { $0?.bodyText == "finished\n" })
    }

    @Test("the unix socket gets the configured mode")
    func socketMode() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry()) { $0.socketMode = 0o660 }
        var st = stat()
        #expect(stat(t.socketPath, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o660)
        await t.stop()
    }

    @Test("TCP listen on 127.0.0.1")
    func tcp() async throws {
        // A port the kernel just handed out as unused (not a fixed number another run could hold).
        // libfcgi exits the process if the bind fails, so the port must really be free.
        let port = try LocalPorts.free()
        let t = try FastCGITestServer(registry: try transportRegistry()) { $0.listen = .tcp(host: "127.0.0.1", port: Int(port)) }
        let c = FastCGIClient(host: "127.0.0.1", port: port)
        #expect(try await ConcurrentClients.offPool { try c.send(.get("/hello")).bodyText } == "Hello, world\n")
        c.close()
        await t.stop()
    }
}
