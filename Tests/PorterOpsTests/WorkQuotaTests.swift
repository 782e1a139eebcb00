import Foundation
import PorterTesting
import Testing
import Porter
import PorterHost
@testable import PorterOps

/// Inserts an unfinished item for `requestedBy` as another process (`owner`) would have, with python's sqlite3.
func sqliteInsertRequested(_ path: String, status: String, owner: String, requestedBy: String) async throws {
    let script = """
    import sqlite3, sys, time, uuid
    con = sqlite3.connect(sys.argv[1])
    con.execute("INSERT INTO porter_work_items (id, name, status, created_at, owner, requested_by) VALUES (?, 'elsewhere', ?, ?, ?, ?)",
                (uuid.uuid4().hex, sys.argv[2], time.time(), sys.argv[3], sys.argv[4]))
    con.commit()
    """
    let result = try await runProgram(try #require(findExecutable("python3")), ["-c", script, path, status, owner, requestedBy])
    guard result.status == 0 else { throw WorkFailure("sqlite3 insert failed: \(result.stderr)") }
}

/// Issue 10, item 3 (pipeline tier): POST only, per-owner quota, purging while running.
@Suite struct WorkQuotaTests {
    @Test func onlyPostEnqueues() async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"))
        var registry = HandlerRegistry()
        // Mapped for every verb: the handler itself refuses GET and HEAD (a link or an <img> must order nothing).
        try registry.add(name: "report", path: "/reports", handler: ReportHandler(queue: queue, steps: 1, stepDuration: .zero))
        let pipeline = Pipeline(registry: registry, modules: [])
        for method in [HTTPMethod.get, .head, .put] {
            let ctx = await send(pipeline, "/reports", method: method, application: ApplicationState())
            #expect(ctx.response.status == .methodNotAllowed && ctx.response.headers["Allow"] == "POST", "\(method)")
        }
        #expect(try queue.records().isEmpty)
        #expect(await send(pipeline, "/reports", method: .post, application: ApplicationState()).response.status == .accepted)
        #expect(try queue.records().count == 1)
        await queue.shutdown(grace: .seconds(1))
    }

    @Test func eachOwnerHasAQuotaOfUnfinishedItems() async throws {
        let path = temporaryPath(".sqlite")
        let queue = try BackgroundWorkQueue(databasePath: path, limits: .init(maxConcurrent: 1, maxQueued: 100, retryAfterSeconds: 9, maxPerOwner: 2))
        let gate = TestGate()
        for _ in 0..<2 { try queue.enqueue(name: "a", owner: "alice") { _ in await gate.wait() } }
        #expect(throws: BackgroundWorkError.ownerQuotaExceeded(retryAfterSeconds: 9)) {
            try queue.enqueue(name: "a", owner: "alice") { _ in }
        }
        try queue.enqueue(name: "b", owner: "bob") { _ in await gate.wait() }
        try queue.enqueue(name: "unowned") { _ in }
        // Items another live process runs for carol count too: the quota is counted in SQLite.
        let pid1 = try #require(ProcessIdentity.identity(of: 1))
        for _ in 0..<2 { try await sqliteInsertRequested(path, status: "running", owner: pid1, requestedBy: "carol") }
        #expect(throws: BackgroundWorkError.ownerQuotaExceeded(retryAfterSeconds: 9)) { try queue.enqueue(name: "c", owner: "carol") { _ in } }

        var registry = HandlerRegistry()
        try registry.add(name: "report", verbs: "POST", path: "/reports", handler: ReportHandler(queue: queue, steps: 1, stepDuration: .zero))
        let pipeline = Pipeline(registry: registry, modules: [HeaderAuthModule()])
        let refused = await send(pipeline, "/reports", method: .post, application: ApplicationState(), headers: ["X-Test-User": "alice"])
        #expect(refused.response.status == .tooManyRequests && refused.response.headers["Retry-After"] == "9")
        gate.open()
        try await waitUntil("queue.runningCount == 0 && queue.queuedCount == 0") { queue.runningCount == 0 && queue.queuedCount == 0 }
        let accepted = await send(pipeline, "/reports", method: .post, application: ApplicationState(), headers: ["X-Test-User": "alice"])
        #expect(accepted.response.status == .accepted, "finished items no longer count")
        await queue.shutdown(grace: .seconds(1))
    }

    @Test func anonymousRequestsShareOneQuota() async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"), limits: .init(maxConcurrent: 1, maxPerOwner: 3))
        var registry = HandlerRegistry()
        try registry.add(name: "report", verbs: "POST", path: "/reports", handler: ReportHandler(queue: queue, steps: 1, stepDuration: .seconds(30)))
        let pipeline = Pipeline(registry: registry, modules: [])
        var statuses: [HTTPStatus] = []
        for _ in 0..<5 { statuses.append(await send(pipeline, "/reports", method: .post, application: ApplicationState()).response.status) }
        #expect(statuses == [.accepted, .accepted, .accepted, .tooManyRequests, .tooManyRequests])
        await queue.shutdown(grace: .zero, cancellationGrace: .milliseconds(200))
    }

    @Test func finishedItemsArePurgedWhileRunning() async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"), retention: .milliseconds(200))
        let done = try queue.enqueue(name: "done") { _ in }
        let gate = TestGate()
        let running = try queue.enqueue(name: "running") { _ in await gate.wait() }
        try await waitUntil("try await queue.record(done)?.status == .succeeded") { try await queue.record(done)?.status == .succeeded }
        let purger = WorkPurger(queue: queue, interval: .milliseconds(100))
        let task = Task { try await purger.run() }
        try await waitUntil("purged by the schedule, not at start") { try await queue.record(done) == nil }
        #expect(try await queue.record(running)?.status == .running, "unfinished items are never purged")
        task.cancel()
        _ = await task.result
        gate.open()
        await queue.shutdown(grace: .seconds(1))
    }

    @Test func moduleOptionsForQuotaAndPurging() throws {
        let path = temporaryPath(".sqlite")
        let module = try BackgroundWorkModule(options: Options(["database": .string(path), "max_per_user": .int(2),
                                                                "retention_seconds": .int(60), "purge_interval_seconds": .double(0.5)]))
        #expect(module.queue.limits.maxPerOwner == 2)
        #expect(module.queue.retention == .seconds(60))
        #expect(module.purger?.interval == .milliseconds(500))
        #expect(try BackgroundWorkModule(options: Options(["database": .string(path), "retention_days": .int(0)])).purger == nil)
        #expect(try BackgroundWorkModule(options: Options(["database": .string(path), "purge_interval_seconds": .int(0)])).purger == nil)
        #expect(throws: ConfigurationError.self) { try BackgroundWorkModule(options: Options(["database": .string(path), "max_per_user": .int(0)])) }
    }
}
