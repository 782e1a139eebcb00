import FastCGIWire
import Porter
import PorterFastCGI
import PorterTesting
import Synchronization
import Testing
import Glibc

/// Counts how many times a handler ran and whether it saw cancellation.
final class RunLog: Sendable {
    let started = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let cancelled = Atomic<Int>(0)
}

@Suite("Overload and deadlines", .serialized)
struct OverloadTests {
    @Test("a bulkhead admits N at once and answers the rest 503 + Retry-After")
    func bulkhead() async throws {
        let bulkhead = Bulkhead(limit: 3)
        var registry = HandlerRegistry()
        try registry.add(name: "slow", path: "/slow", source: bulkhead.wrap(.instance(.async(AsyncClosureHandler { ctx in
            try await Task.sleep(for: .milliseconds(400))
            ctx.response.write("ok")
        }))))
        let t = try FastCGITestServer(registry: registry)
        let results = await ConcurrentClients.run(10) { _ in try t.send(.get("/slow")) }
        let statuses = results.compactMap { try? $0.get().status }
        #expect(statuses.filter { $0 == 200 }.count == 3)
        #expect(statuses.filter { $0 == 503 }.count == 7)
        let refused = results.compactMap { try? $0.get() }.first { $0.status == 503 }
        #expect(refused?.headers["Retry-After"] == "1")
        #expect(bulkhead.current == 0)
        await t.stop()
    }

    @Test("a request past its timeout is cancelled and answered 504")
    func timeout() async throws {
        let log = RunLog()
        var registry = HandlerRegistry()
        try registry.add(name: "slow", path: "/slow", handler: AsyncClosureHandler { ctx in
            log.started.add(1, ordering: .relaxed)
            do {
                try await Task.sleep(for: .seconds(10))
            } catch {
                log.cancelled.add(1, ordering: .relaxed)
                throw error
            }
            ctx.response.write("late")
        })
        let t = try FastCGITestServer(registry: registry) { $0.requestTimeout = .milliseconds(300) }
        let start = ContinuousClock.now
        let r = try await t.fetch(.get("/slow"))
        #expect(r.status == 504)
        #expect(ContinuousClock.now - start < .seconds(3))
        #expect(log.cancelled.load(ordering: .relaxed) == 1, "the handler saw cancellation")
        #expect(try await t.fetch(.get("/missing")).status == 404, "still serving")
        await t.stop()
    }

    @Test("when the client goes away, the async handler's task is cancelled")
    func clientGone() async throws {
        let log = RunLog()
        var registry = HandlerRegistry()
        try registry.add(name: "slow", path: "/slow", handler: AsyncClosureHandler { _ in
            log.started.add(1, ordering: .relaxed)
            do {
                try await Task.sleep(for: .seconds(10))
                log.finished.add(1, ordering: .relaxed)
            } catch {
                log.cancelled.add(1, ordering: .relaxed)
                throw error
            }
        })
        let t = try FastCGITestServer(registry: registry)
        let c = t.client()
        try c.sendRaw(FastCGIRequest.get("/slow").encoded())
        for _ in 0..<100 where log.started.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        c.close()
        for _ in 0..<100 where log.cancelled.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(log.cancelled.load(ordering: .relaxed) == 1)
        #expect(log.finished.load(ordering: .relaxed) == 0)
        await t.stop()
    }

    @Test("sync work queued behind busy workers is dropped once its request timed out, not run late")
    func queuedWorkDropped() async throws {
        let ran = Atomic<Int>(0)
        // /count first awaits 100 ms (no thread held), then needs a worker thread for its sync handler.
        let asyncFirst = ClosureModule(name: "async") {
            $0.onAsync(.beginRequest) { ctx in if ctx.request.path == "/count" { try await Task.sleep(for: .milliseconds(100)) } }
        }
        var registry = HandlerRegistry()
        try registry.add(name: "block", path: "/block", handler: ClosureHandler { _ in usleep(1_500_000) })
        try registry.add(name: "count", path: "/count", handler: ClosureHandler { _ in ran.add(1, ordering: .relaxed) })
        let t = try FastCGITestServer(registry: registry, modules: [asyncFirst]) {
            $0.threads = 1
            $0.requestTimeout = .milliseconds(300)
        }
        // Blocking clients run on their own threads, never on the test's cooperative pool.
        // Meanwhile /block occupies the only worker thread for 1.5 s, so /count's work waits in the queue
        // past its 300 ms deadline.
        let results = await ConcurrentClients.run(2) { i -> Int in
            if i == 0 { return try t.send(.get("/count")).status }
            usleep(30_000)
            return try t.send(.get("/block")).status
        }
        #expect((try? results[0].get()) == 504)
        try await Task.sleep(for: .milliseconds(200))
        #expect(ran.load(ordering: .relaxed) == 0, "the queued handler never ran")
        await t.stop()
    }
}
