import Foundation
import Synchronization
import PorterTesting
import Testing
import Porter
import PorterState
import Logging
import ServiceLifecycle
@testable import PorterOps

/// One "host" of a cluster in a test: its own queue and connection pool on the shared database, its pool running,
/// and (when `claiming`) its claim loop.
final class WorkTestHost: Sendable {
    let queue: BackgroundWorkQueue
    let pool: PostgresService
    private let poolTask: Task<Void, any Error>
    private let loop = Mutex<Task<Void, Never>?>(nil)

    init(url: String, name: String, limits: BackgroundWorkQueue.Limits = .init(maxConcurrent: 2),
         lease: Duration = .seconds(30), retention: Duration? = .seconds(3600), claiming: Bool = true,
         register: (BackgroundWorkQueue) -> Void = { _ in }) throws {
        pool = try PostgresService(url: url)
        let pool = self.pool
        poolTask = Task { try await pool.run() }
        queue = try BackgroundWorkQueue(store: .postgres(PostgresJobStore(database: pool), lease: lease, pollInterval: .milliseconds(20)),
                                        limits: limits, retention: retention, hostName: name)
        register(queue)
        if claiming { startClaiming() }
    }

    /// Starts this host's claim loop.
    func startClaiming() {
        let queue = self.queue
        loop.withLock { $0 = Task { await queue.runClaimLoop() } }
    }

    /// Drains the queue (if it has not crashed) and stops the loop and the pool.
    func stop() async {
        await queue.shutdown(grace: .zero, cancellationGrace: .seconds(5))
        if let task = loop.withLock({ $0 }) { task.cancel(); await task.value }
        poolTask.cancel()
        _ = await poolTask.result
    }
}

/// A fresh database on the shared test server and its URL (skips when PostgreSQL cannot be installed).
func sharedWorkDatabase() async throws -> String {
    let server = try await PostgresTestServer.sharedOrSkip()
    return server.url(database: try await server.makeDatabaseName())
}

/// Issue 14: the background work queue on PostgreSQL, shared by several hosts (each a queue with its own pool on one
/// database): any host runs what any host enqueued, exactly once while hosts live; a dead host's item is taken over
/// after its lease with the same idempotency key; status and quotas are the database's; shutdown releases.
@Suite("Background work on PostgreSQL")
struct SharedWorkTests {
    @Test("enqueued on A, run by B; status reads the same from both; 20 items over two hosts run exactly once each")
    func anyHostRunsIt() async throws {
        let url = try await sharedWorkDatabase()
        let runs = Mutex<[String: [String]]>([:])
        func counting(_ host: String) -> (BackgroundWorkQueue) -> Void {
            { queue in
                queue.register(kind: "count") { work in runs.withLock { $0[work.idempotencyKey, default: []].append(host) } }
            }
        }
        let a = try WorkTestHost(url: url, name: "web-a", claiming: false, register: counting("web-a"))
        let b = try WorkTestHost(url: url, name: "web-b", register: counting("web-b"))
        let id = try await a.queue.enqueue(kind: "count", payload: "solo", idempotencyKey: "solo")
        try await waitUntil("B to run what A enqueued") { try await a.queue.record(id)?.status == .succeeded }
        let fromA = try #require(try await a.queue.record(id))
        let fromB = try #require(try await b.queue.record(id))
        #expect(fromA == fromB)
        #expect(fromA.host == "web-b" && fromA.attempts == 1 && fromA.name == "count")
        #expect(runs.withLock { $0["solo"] } == ["web-b"])
        // The status page answers the same JSON on either host.
        func statusJSON(_ queue: BackgroundWorkQueue) async throws -> [String: Any] {
            var registry = HandlerRegistry()
            try registry.add(name: "work", verbs: "GET", path: "/work/*", handler: WorkStatusHandler(queue: queue))
            return try json(await send(Pipeline(registry: registry, modules: []), "/work/\(id)", application: ApplicationState()))
        }
        let jsonA = try await statusJSON(a.queue), jsonB = try await statusJSON(b.queue)
        #expect(jsonA["status"] as? String == "succeeded" && jsonA["attempts"] as? Int == 1 && jsonA["host"] as? String == "web-b")
        #expect(NSDictionary(dictionary: jsonA) == NSDictionary(dictionary: jsonB))

        a.startClaiming()
        var ids: [WorkItemID] = []
        for i in 0..<20 {
            let host = i.isMultiple(of: 2) ? a : b
            ids.append(try await host.queue.enqueue(kind: "count", payload: "\(i)", idempotencyKey: "job-\(i)"))
        }
        try await waitUntil("all 20 items to succeed") {
            for id in ids where try await b.queue.record(id)?.status != .succeeded { return false }
            return true
        }
        let seen = runs.withLock { $0 }
        let perHost = Dictionary(grouping: (0..<20).flatMap { seen["job-\($0)"] ?? [] }, by: { $0 }).mapValues(\.count)
        print("shared work: 20 items enqueued alternately on web-a and web-b, runs per host \(perHost.sorted { $0.key < $1.key })")
        for i in 0..<20 { #expect(seen["job-\(i)"]?.count == 1, "job-\(i) ran once, ran on \(seen["job-\(i)"] ?? [])") }
        await a.stop()
        await b.stop()
    }

    @Test("a host that dies mid-item: another host runs it after the lease, with the same idempotency key")
    func takeoverAfterLease() async throws {
        let url = try await sharedWorkDatabase()
        let runs = Mutex<[(host: String, attempt: Int, key: String)]>([])
        let holding = TestGate()
        func mail(_ host: String) -> (BackgroundWorkQueue) -> Void {
            { queue in
                queue.register(kind: "mail") { work in
                    runs.withLock { $0.append((host, work.attempt, work.idempotencyKey)) }
                    if host == "web-a" {
                        await holding.wait()   // until the "crash" cancels it
                        try work.checkCancellation()
                    }
                    await work.setProgress("sent by \(host)")
                }
            }
        }
        let a = try WorkTestHost(url: url, name: "web-a", limits: .init(maxConcurrent: 1), lease: .seconds(2), register: mail("web-a"))
        let b = try WorkTestHost(url: url, name: "web-b", lease: .seconds(2), claiming: false, register: mail("web-b"))
        let id = try await b.queue.enqueue(kind: "mail", payload: "to=alice", owner: "alice", idempotencyKey: "mail-42")
        try await waitUntil("A to hold the item") { holding.waiting == 1 }
        let held = try #require(try await b.queue.record(id))
        #expect(held.status == .running && held.host == "web-a" && held.attempts == 1)
        let crashedAt = ContinuousClock.now
        a.queue.simulateCrash()          // no finish, no release, no more heartbeats
        b.startClaiming()
        try await waitUntil("B to take the item over once A's lease ended") { try await b.queue.record(id)?.status == .succeeded }
        print("shared work takeover: lease 2 s, item finished on web-b \(ContinuousClock.now - crashedAt) after web-a's crash")
        let done = try #require(try await a.queue.record(id))
        // At least once: web-b normally runs it once (attempt 2); on a machine so busy that web-b's own heartbeat
        // misses its 2 s lease, web-b claims it again (attempt 3). Never on web-a again, never twice at once.
        #expect((done.attempts ?? 0) >= 2 && done.host == "web-b" && done.progress == "sent by web-b")
        let seen = runs.withLock { $0 }
        #expect(seen.first?.host == "web-a" && seen.dropFirst().allSatisfy { $0.host == "web-b" } && seen.count >= 2, "\(seen)")
        #expect(seen.map(\.attempt) == Array(1...seen.count), "attempts count up: \(seen)")
        #expect(seen.allSatisfy { $0.key == "mail-42" }, "the handler sees the same key on every attempt")
        await a.stop()
        await b.stop()
    }

    @Test("per-owner quota and the queue limit are counted in the database, across hosts; idempotent enqueue")
    func quotaAcrossHosts() async throws {
        let url = try await sharedWorkDatabase()
        let limits = BackgroundWorkQueue.Limits(maxConcurrent: 1, maxQueued: 3, retryAfterSeconds: 9, maxPerOwner: 2)
        let register: (BackgroundWorkQueue) -> Void = { $0.register(kind: "noop") { _ in } }
        // Nobody claims: everything stays queued.
        let a = try WorkTestHost(url: url, name: "web-a", limits: limits, claiming: false, register: register)
        let b = try WorkTestHost(url: url, name: "web-b", limits: limits, claiming: false, register: register)
        let first = try await a.queue.enqueue(kind: "noop", owner: "alice", idempotencyKey: "alice-1")
        try await b.queue.enqueue(kind: "noop", owner: "alice")
        await #expect(throws: BackgroundWorkError.ownerQuotaExceeded(retryAfterSeconds: 9)) {
            try await a.queue.enqueue(kind: "noop", owner: "alice")
        }
        #expect(try await b.queue.enqueue(kind: "noop", owner: "alice", idempotencyKey: "alice-1") == first,
                "a known key answers its item, quota or not")
        // Through the report handler on the other host: 429 for alice, and (below) 503 when the queue is full.
        var registry = HandlerRegistry()
        try registry.add(name: "report", verbs: "POST", path: "/reports", handler: ReportHandler(queue: b.queue, steps: 1, stepDuration: .zero))
        let pipeline = Pipeline(registry: registry, modules: [HeaderAuthModule()])
        let refused = await send(pipeline, "/reports", method: .post, application: ApplicationState(), headers: ["X-Test-User": "alice"])
        #expect(refused.response.status == .tooManyRequests && refused.response.headers["Retry-After"] == "9")
        try await b.queue.enqueue(kind: "noop", owner: "bob")
        await #expect(throws: BackgroundWorkError.queueFull(retryAfterSeconds: 9)) {
            try await a.queue.enqueue(kind: "noop", owner: "carol")
        }
        let full = await send(pipeline, "/reports", method: .post, application: ApplicationState(), headers: ["X-Test-User": "dave"])
        #expect(full.response.status == .serviceUnavailable && full.response.headers["Retry-After"] == "9")
        await a.stop()
        await b.stop()
    }

    @Test("Idempotency-Key: a retried POST answers the same item; another user's same key is another item; bad keys are 400")
    func idempotentReports() async throws {
        let url = try await sharedWorkDatabase()
        let a = try WorkTestHost(url: url, name: "web-a", limits: .init(maxConcurrent: 1, maxPerOwner: 10), claiming: false)
        var registry = HandlerRegistry()
        try registry.add(name: "report", verbs: "POST", path: "/reports", handler: ReportHandler(queue: a.queue, steps: 1, stepDuration: .zero))
        let pipeline = Pipeline(registry: registry, modules: [HeaderAuthModule()])
        func post(_ user: String, _ key: String?) async -> HTTPContext {
            var headers: HTTPHeaders = ["X-Test-User": user]
            if let key { headers["Idempotency-Key"] = key }
            return await send(pipeline, "/reports", method: .post, application: ApplicationState(), headers: headers)
        }
        let first = await post("alice", "order-17"), retry = await post("alice", "order-17")
        #expect(first.response.status == .accepted && retry.response.status == .accepted)
        #expect(first.response.headers["Location"] != nil && first.response.headers["Location"] == retry.response.headers["Location"])
        let bobs = await post("bob", "order-17")
        #expect(bobs.response.status == .accepted && bobs.response.headers["Location"] != first.response.headers["Location"])
        let plain1 = await post("alice", nil), plain2 = await post("alice", nil)
        #expect(plain1.response.headers["Location"] != plain2.response.headers["Location"], "without a key each POST is new")
        for bad in [String(repeating: "k", count: 201), "has space", "tab\there", "ünïcode"] {
            let ctx = await post("alice", bad)
            #expect(ctx.response.status == .badRequest, "key \(bad.prefix(20))")
        }
        let maxKey = await post("alice", String(repeating: "k", count: 200))
        #expect(maxKey.response.status == .accepted)
        // The report's payload runs on the claiming host.
        a.startClaiming()
        let location = try #require(first.response.headers["Location"])
        let id = try #require(WorkItemID(location.dropFirst("/work/".count)))
        try await waitUntil("the report to finish") { try await a.queue.record(id)?.status == .succeeded }
        #expect(try await a.queue.record(id)?.progress == "report for alice ready (1 steps)")
        await a.stop()
    }

    @Test("shutdown lets running items finish within the grace, then releases the rest for another host; closures are refused")
    func shutdownReleases() async throws {
        let url = try await sharedWorkDatabase()
        let gate = TestGate()
        let ranOn = Mutex<[String]>([])
        func slow(_ host: String) -> (BackgroundWorkQueue) -> Void {
            { queue in
                queue.register(kind: "slow") { work in
                    ranOn.withLock { $0.append(host) }
                    if host == "web-a" {
                        await gate.wait()
                        try work.checkCancellation()
                    }
                }
                queue.register(kind: "quick") { _ in ranOn.withLock { $0.append("\(host) quick") } }
            }
        }
        // One slot: while it runs the slow item, no claim of A's is in flight that could take the released item back.
        let a = try WorkTestHost(url: url, name: "web-a", limits: .init(maxConcurrent: 1), register: slow("web-a"))
        let b = try WorkTestHost(url: url, name: "web-b", claiming: false, register: slow("web-b"))
        #expect(throws: BackgroundWorkError.closureNeedsLocalStore) { try a.queue.enqueue(name: "closure") { _ in } }
        let id = try await a.queue.enqueue(kind: "slow")
        try await waitUntil("A to run the slow item") { gate.waiting == 1 }
        let summary = await a.queue.shutdown(grace: .milliseconds(100), cancellationGrace: .seconds(5))
        #expect(summary.cancelledRunning == 1 && summary.interruptedQueued == 0)
        let released = try #require(try await b.queue.record(id))
        #expect(released.status == .queued && released.attempts == 1, "released, not interrupted: \(released)")
        await #expect(throws: BackgroundWorkError.shuttingDown(retryAfterSeconds: 5)) { try await a.queue.enqueue(kind: "quick") }
        let queued = try await b.queue.enqueue(kind: "quick")   // queued while A no longer claims: stays for B
        b.startClaiming()
        try await waitUntil("B to run both") {
            let (x, y) = (try await b.queue.record(id), try await b.queue.record(queued))
            return x?.status == .succeeded && y?.status == .succeeded
        }
        let taken = try #require(try await b.queue.record(id))
        #expect(taken.attempts == 2 && taken.host == "web-b")
        #expect(ranOn.withLock { $0 } == ["web-a", "web-b", "web-b quick"] || ranOn.withLock { $0 } == ["web-a", "web-b quick", "web-b"])
        await a.stop()
        await b.stop()
    }

    @Test("finished rows are purged on the schedule; unfinished ones never")
    func purge() async throws {
        let url = try await sharedWorkDatabase()
        let gate = TestGate()
        let a = try WorkTestHost(url: url, name: "web-a", retention: .milliseconds(200)) { queue in
            queue.register(kind: "done") { _ in }
            queue.register(kind: "held") { _ in await gate.wait() }
        }
        let done = try await a.queue.enqueue(kind: "done")
        let held = try await a.queue.enqueue(kind: "held")
        try await waitUntil("done to succeed and held to run") {
            let (x, y) = (try await a.queue.record(done), try await a.queue.record(held))
            return x?.status == .succeeded && y?.status == .running
        }
        let purger = WorkPurger(queue: a.queue, interval: .milliseconds(100))
        let task = Task { try await purger.run() }
        try await waitUntil("purged by the schedule") { try await a.queue.record(done) == nil }
        #expect(try await a.queue.record(held)?.status == .running, "unfinished items are never purged")
        task.cancel()
        _ = await task.result
        gate.open()
        await a.stop()
    }

    @Test("bad input: unknown kind, oversized payload, bad key are 400s; malformed or unknown ids are 404")
    func badInput() async throws {
        let url = try await sharedWorkDatabase()
        let a = try WorkTestHost(url: url, name: "web-a", claiming: false) { $0.register(kind: "k") { _ in } }
        let local = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"))
        local.register(kind: "k") { _ in }
        for queue in [a.queue, local] {
            for (kind, payload, key) in [("nobody-registered-this", "", nil), ("", "", nil), ("k", String(repeating: "p", count: 64 * 1024 + 1), nil),
                                         ("k", "", ""), ("k", "", String(repeating: "i", count: 201))] as [(String, String, String?)] {
                do {
                    try await queue.enqueue(kind: kind, payload: payload, idempotencyKey: key)
                    Issue.record("accepted kind \(kind.prefix(20)) payload \(payload.count) key \(key?.count ?? -1)")
                } catch {
                    guard case .invalidWork(let why) = error else { Issue.record("wrong error \(error)"); continue }
                    #expect(error.status == .badRequest && !why.isEmpty)
                }
            }
            var registry = HandlerRegistry()
            try registry.add(name: "work", verbs: "GET", path: "/work/*", handler: WorkStatusHandler(queue: queue))
            let pipeline = Pipeline(registry: registry, modules: [])
            for path in ["/work/xyz", "/work/" + String(repeating: "a", count: 33), "/work/" + String(repeating: "A", count: 32),
                         "/work/%27%3B%20SELECT%201", "/work/", "/work/" + WorkItemID().rawValue] {
                #expect(await send(pipeline, path, application: ApplicationState()).response.status == .notFound, "\(path)")
            }
        }
        // The handler sees the payload it was enqueued with, on the local store too.
        let seen = Mutex<[String]>([])
        local.register(kind: "echo") { work in seen.withLock { $0.append("\(work.kind) \(work.payload) \(work.idempotencyKey) \(work.attempt)") } }
        let id = try await local.enqueue(kind: "echo", payload: "{\"x\":1}", idempotencyKey: "echo-1")
        #expect(try await local.enqueue(kind: "echo", payload: "{\"x\":2}", idempotencyKey: "echo-1") == id, "SQLite keys dedupe too")
        try await waitUntil("the echo item to succeed") { try await local.record(id)?.status == .succeeded }
        #expect(seen.withLock { $0 } == ["echo {\"x\":1} echo-1 1"])
        await local.shutdown(grace: .seconds(1))
        await a.stop()
    }

    @Test("module options: store = postgres with postgres_url, lease_seconds, poll_interval_ms; one pool per database")
    func moduleOptions() async throws {
        let url = "postgres://porter@127.0.0.1:1/porter"   // never connected: building the module opens nothing
        let pools = PostgresPools()
        let module = try BackgroundWorkModule(options: Options([
            "store": .string("postgres"), "postgres_url": .string(url), "lease_seconds": .double(2), "poll_interval_ms": .int(50),
            "max_concurrent": .int(3), "max_per_user": .int(4), "retention_days": .int(1), "purge_interval_seconds": .int(60),
        ]), pools: pools)
        #expect(module.queue.isShared && module.queue.limits.maxConcurrent == 3 && module.queue.limits.maxPerOwner == 4)
        #expect(module.claimer != nil && module.purger?.interval == .seconds(60) && module.services.count == 3)
        #expect(module.queue.handles(kind: ReportHandler.kind), "every host can run reports")
        let shared = try #require(module.queue.sharedStore)
        #expect(shared.database === (try pools.pool(options: Options(["postgres_url": .string(url)]))), "the same URL shares the pool")
        let sqlite = try BackgroundWorkModule(options: Options(["database": .string(temporaryPath(".sqlite"))]))
        #expect(!sqlite.queue.isShared && sqlite.claimer == nil && sqlite.services.count == 1)
        for bad: [String: ConfigValue] in [
            ["store": .string("mongodb"), "database": .string("x")],
            ["store": .string("postgres"), "postgres_url": .string("mysql://x/y")],
            ["store": .string("postgres"), "postgres_url": .string(url), "lease_seconds": .double(0)],
            ["store": .string("postgres"), "postgres_url": .string(url), "poll_interval_ms": .int(0)],
            ["store": .string("sqlite")],
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try BackgroundWorkModule(options: Options(bad)) }
        }
    }

    @Test("the module's services in a ServiceGroup: the claimer drains on graceful shutdown before the pool closes, releasing the running item")
    func moduleServicesReleaseOnGracefulShutdown() async throws {
        let url = try await sharedWorkDatabase()
        let gate = TestGate()
        let module = try BackgroundWorkModule(options: Options([
            "store": .string("postgres"), "postgres_url": .string(url), "lease_seconds": .double(30), "poll_interval_ms": .int(20),
            "max_concurrent": .int(1), "shutdown_grace": .double(0.1),
        ]))
        module.queue.register(kind: "held") { work in
            await gate.wait()
            try work.checkCancellation()
        }
        let group = ServiceGroup(configuration: .init(services: module.services.map { .init(service: $0) },
                                                      logger: Logger(label: "porter.test.work")))
        let running = Task { try await group.run() }
        let id = try await module.queue.enqueue(kind: "held")
        try await waitUntil("the module's claim loop to run the item") { gate.waiting == 1 }
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(module.queue.runningCount == 0 && !module.queue.isAccepting)
        // Read from another host: released (queued, claimed once), not interrupted and not left under a lease.
        let b = try WorkTestHost(url: url, name: "web-b", claiming: false) { $0.register(kind: "held") { _ in } }
        let released = try #require(try await b.queue.record(id))
        #expect(released.status == .queued && released.attempts == 1, "\(released)")
        b.startClaiming()
        try await waitUntil("another host to run it") { try await b.queue.record(id)?.status == .succeeded }
        await b.stop()
    }

    @Test("a job left from before work item ids (a UUID id) is failed with a message, not claimed and given back forever")
    func oldJobIDsAreFailed() async throws {
        let server = try await PostgresTestServer.sharedOrSkip()
        let name = try await server.makeDatabaseName()
        let a = try WorkTestHost(url: server.url(database: name), name: "web-a", claiming: false) { $0.register(kind: "k") { _ in } }
        let first = try await a.queue.enqueue(kind: "k")   // creates the table
        _ = try await ConcurrentClients.offPool {
            try server.psql("""
                INSERT INTO porter_jobs (id, kind, payload, idempotency_key, status, created_ms)
                VALUES ('6f1e6a2c-0b7e-4a8e-9d55-3c1f0e2b9a10', 'k', '', 'old-runner-key', 'queued', 1)
                """, database: name)
        }
        a.startClaiming()
        let jobs = try #require(a.queue.sharedStore)
        try await waitUntil("the old job to be failed and the new item to succeed") {
            let old = try await jobs.status(id: "6f1e6a2c-0b7e-4a8e-9d55-3c1f0e2b9a10")
            let new = try await a.queue.record(first)
            return old?.status == "failed" && new?.status == .succeeded
        }
        #expect(try await jobs.status(id: "6f1e6a2c-0b7e-4a8e-9d55-3c1f0e2b9a10")?.attempts == 1)
        await a.stop()
    }
}
