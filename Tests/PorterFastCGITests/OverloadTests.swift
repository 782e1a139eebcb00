import FastCGIWire
import Porter
import PorterFastCGI
import PorterTesting
import Synchronization
import Testing
import Glibc
import Dispatch

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
        let gate = TestGate()
        var registry = HandlerRegistry()
        try registry.add(name: "slow", path: "/slow", source: bulkhead.wrap(.instance(.async(AsyncClosureHandler { ctx in
            try await gate.pass()
            ctx.response.write("ok")
        }))))
        let t = try FastCGITestServer(registry: registry)
        let refusals = Atomic<Int>(0)
        let load = Task {
            await ConcurrentClients.run(10) { _ in
                let response = try t.send(.get("/slow"))
                if response.status == 503 { refusals.add(1, ordering: .relaxed) }
                return response
            }
        }
        // Three requests inside the handler at once and the other seven already refused, all while the three
        // still hold their places: the bulkhead, not timing, decided who got in.
        try await waitUntil("3 requests admitted and 7 refused (admitted: \(gate.waiting), refused: \(refusals.load(ordering: .relaxed)))") {
            gate.waiting == 3 && refusals.load(ordering: .relaxed) == 7
        }
        #expect(bulkhead.current == 3)
        gate.open()
        let results = await load.value
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
        let never = TestGate()   // never opened: only cancellation gets the handler out
        var registry = HandlerRegistry()
        try registry.add(name: "slow", path: "/slow", handler: AsyncClosureHandler { ctx in
            log.started.add(1, ordering: .relaxed)
            do {
                try await never.pass()
            } catch {
                log.cancelled.add(1, ordering: .relaxed)
                throw error
            }
            ctx.response.write("late")
        })
        let t = try FastCGITestServer(registry: registry) { $0.requestTimeout = .milliseconds(300) }
        let r = try await t.fetch(.get("/slow"))
        #expect(r.status == 504)
        #expect(log.cancelled.load(ordering: .relaxed) == 1, "the handler saw cancellation")
        #expect(try await t.fetch(.get("/missing")).status == 404, "still serving")
        await t.stop()
    }

    @Test("when the client goes away, the async handler's task is cancelled")
    func clientGone() async throws {
        let log = RunLog()
        let never = TestGate()   // never opened: only cancellation gets the handler out
        var registry = HandlerRegistry()
        try registry.add(name: "slow", path: "/slow", handler: AsyncClosureHandler { _ in
            log.started.add(1, ordering: .relaxed)
            do {
                try await never.pass()
                log.finished.add(1, ordering: .relaxed)
            } catch {
                log.cancelled.add(1, ordering: .relaxed)
                throw error
            }
        })
        let t = try FastCGITestServer(registry: registry)
        let c = t.client()
        try c.sendRaw(FastCGIRequest.get("/slow").encoded())
        try await waitUntil("the handler to start") { log.started.load(ordering: .relaxed) == 1 }
        c.close()
        try await waitUntil("the handler to see cancellation after the client closed") { log.cancelled.load(ordering: .relaxed) == 1 }
        #expect(log.finished.load(ordering: .relaxed) == 0)
        await t.stop()
    }

    @Test("sync work queued behind busy workers is dropped once its request timed out, not run late")
    func queuedWorkDropped() async throws {
        let ran = Atomic<Int>(0)
        let stuckReports = Atomic<Int>(0)
        let countHeld = TestGate()
        let blockEntered = Atomic<Bool>(false)
        let releaseBlock = DispatchSemaphore(value: 0)
        defer {   // never leave the worker or /count waiting, even when a wait fails
            countHeld.open()
            releaseBlock.signal()
        }
        // /count first awaits (no thread held, whatever its deadline says) until the test lets it on, then needs
        // the only worker thread for its sync handler, which /block occupies by then: its work waits in the queue.
        let asyncFirst = ClosureModule(name: "async") {
            $0.onAsync(.beginRequest) { ctx in
                if ctx.request.path == "/count" { await countHeld.passIgnoringCancellation() }
            }
        }
        var registry = HandlerRegistry()
        try registry.add(name: "block", path: "/block", handler: ClosureHandler { _ in
            blockEntered.store(true, ordering: .releasing)
            releaseBlock.wait()
        })
        try registry.add(name: "count", path: "/count", handler: ClosureHandler { _ in ran.add(1, ordering: .relaxed) })
        let t = try FastCGITestServer(registry: registry, modules: [asyncFirst]) {
            $0.threads = 1
            $0.requestTimeout = .milliseconds(300)
            // Reported for each request still in flight 5 s past its deadline; by then the supervisor has
            // cancelled it (cancellation comes first, in the same or an earlier pass).
            $0.onStuckRequest = { _ in stuckReports.add(1, ordering: .relaxed) }
        }
        // Blocking clients run on their own threads, never on the test's cooperative pool. /count goes first
        // (the single worker must be free to read it); /block follows once /count awaits in its module.
        let count = Task { try await t.fetch(.get("/count")).status }
        try await waitUntil("/count to reach its async step") { countHeld.waiting == 1 }
        let block = Task { try await t.fetch(.get("/block")).status }
        try await waitUntil("/block to occupy the worker thread") { blockEntered.load(ordering: .acquiring) }
        countHeld.open()
        try await waitUntil("both requests to be reported past their deadline (reports: \(stuckReports.load(ordering: .relaxed)))") {
            stuckReports.load(ordering: .relaxed) >= 2
        }
        releaseBlock.signal()
        let countStatus = try await count.value
        _ = try await block.value
        // /count's response is written only after its queued work was taken off the queue, so `ran` is final.
        #expect(countStatus == 504)
        #expect(ran.load(ordering: .relaxed) == 0, "the queued handler never ran")
        await t.stop()
    }
}
