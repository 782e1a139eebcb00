import Foundation
import Synchronization
import PorterTesting
import Testing
import Porter
@testable import PorterOps

/// Reads `SELECT id, status, message FROM porter_work_items` with Python's sqlite3 (an independent reader).
func sqliteRows(_ path: String) async throws -> [String: (status: String, message: String?)] {
    let script = """
    import json, sqlite3, sys
    con = sqlite3.connect(sys.argv[1])
    print(json.dumps([list(r) for r in con.execute("SELECT id, status, message FROM porter_work_items")]))
    """
    let result = try await runProgram(try #require(findExecutable("python3")), ["-c", script, path])
    guard result.status == 0, let rows = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[Any]] else {
        throw WorkFailure("sqlite3 read failed: \(result.stderr)")
    }
    var out: [String: (String, String?)] = [:]
    for row in rows { out[row[0] as! String] = (row[1] as! String, row[2] as? String) }
    return out
}

/// Inserts a row with python's sqlite3, as another (possibly dead) process would have left it.
func sqliteInsert(_ path: String, id: String, status: String, owner: String) async throws {
    let script = """
    import sqlite3, sys, time
    con = sqlite3.connect(sys.argv[1])
    con.execute("INSERT INTO porter_work_items (id, name, status, created_at, owner) VALUES (?, 'old', ?, ?, ?)",
                (sys.argv[2], sys.argv[3], time.time(), sys.argv[4]))
    con.commit()
    """
    let result = try await runProgram(try #require(findExecutable("python3")), ["-c", script, path, id, status, owner])
    guard result.status == 0 else { throw WorkFailure("sqlite3 insert failed: \(result.stderr)") }
}

func workPipeline(queue: BackgroundWorkQueue?, modules: [any HTTPModule] = [], steps: Int = 3, step: Duration = .milliseconds(100)) throws -> Pipeline {
    var registry = HandlerRegistry()
    try registry.add(name: "report", verbs: "POST", path: "/reports", handler: ReportHandler(queue: queue, steps: steps, stepDuration: step))
    try registry.add(name: "work", verbs: "GET", path: "/work/*", handler: WorkStatusHandler(queue: queue))
    return Pipeline(registry: registry, modules: modules)
}

func json(_ ctx: HTTPContext) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(ctx.response.bufferedBody ?? [])) as? [String: Any])
}

@Suite struct BackgroundWorkTests {
    @Test func reportAnswers202WithLocationAndFinishes() async throws {
        let path = temporaryPath(".sqlite")
        let queue = try BackgroundWorkQueue(databasePath: path, limits: .init(maxConcurrent: 1))
        // A blocker holds the only slot, so the report is certainly still queued when its 202 is inspected.
        let blocker = TestGate()
        try queue.enqueue(name: "blocker") { _ in await blocker.wait() }
        try await waitUntil("the blocker to hold the only slot") { blocker.waiting == 1 }
        let app = ApplicationState()
        let pipeline = try workPipeline(queue: queue)
        let ctx = await send(pipeline, "/reports", method: .post, application: app)
        #expect(ctx.response.status == .accepted)
        let location = try #require(ctx.response.headers["Location"])
        #expect(location.hasPrefix("/work/"))
        let id = String(location.dropFirst("/work/".count))
        #expect(WorkItemID(id) != nil)
        #expect(try json(ctx)["id"] as? String == id)
        // Answered before the job ran.
        let itemID = try #require(WorkItemID(id))
        #expect(try await queue.record(itemID)?.status == .queued)
        #expect(try json(await send(pipeline, location, application: app))["status"] as? String == "queued")

        blocker.open()
        // Follow the status URL until the item finishes; every status it shows is a step forward.
        var seen: [String] = []
        try await waitUntil("the report to succeed (statuses seen: \(seen))") {
            let name = try json(await send(pipeline, location, application: app))["status"] as? String ?? "?"
            if seen.last != name { seen.append(name) }
            return name == "succeeded" || name == "failed" || name == "interrupted"
        }
        #expect(seen.last == "succeeded")
        let order = ["queued", "running", "succeeded"]
        #expect(seen.allSatisfy(order.contains) && seen == seen.sorted { order.firstIndex(of: $0)! < order.firstIndex(of: $1)! },
                "statuses only move forward: \(seen)")
        let final = try json(await send(pipeline, location, application: app))
        #expect(final["started_at"] is String && final["finished_at"] is String)
        #expect(final["progress"] as? String == "report for anonymous ready (3 steps)", "the last progress the job reported")
        #expect(try await sqliteRows(path)[id]?.status == "succeeded")
        await queue.shutdown(grace: .seconds(1))
    }

    @Test func unknownAndMalformedIdsAre404() async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"))
        let pipeline = try workPipeline(queue: queue)
        for path in ["/work/" + WorkItemID().rawValue, "/work/nope", "/work/'%3B%20DROP%20TABLE", "/work/"] {
            #expect(await send(pipeline, path, application: ApplicationState()).response.status == .notFound, "\(path)")
        }
    }

    @Test func transitionsQueuedRunningSucceeded() async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"), limits: .init(maxConcurrent: 1))
        let gate = TestGate()
        let first = try queue.enqueue(name: "blocker") { _ in await gate.wait() }
        let second = try queue.enqueue(name: "second") { work in await work.setProgress("halfway") }
        try await waitUntil("the blocker to run") { try await queue.record(first)?.status == .running }
        #expect(try await queue.record(second)?.status == .queued)
        #expect(queue.queuedCount == 1 && queue.runningCount == 1)
        gate.open()
        try await waitUntil("the second item to succeed") {
            try await queue.record(second)?.status == .succeeded
        }
        let record = try #require(try await queue.record(second))
        #expect(record.progress == "halfway" && record.name == "second")
        #expect(record.startedAt != nil && record.finishedAt != nil && record.startedAt! >= record.createdAt)
        #expect(try await queue.record(first)?.status == .succeeded)
        await queue.shutdown(grace: .seconds(1))
    }

    @Test func failuresAreRecordedWithoutInternals() async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"))
        struct Secret: Error { let password = "hunter2" }
        let a = try queue.enqueue(name: "a") { _ in throw WorkFailure("disk full") }
        let b = try queue.enqueue(name: "b") { _ in throw Secret() }
        try await waitUntil("both items to finish") {
            let (ra, rb) = (try await queue.record(a), try await queue.record(b))
            return ra?.status.isFinal == true && rb?.status.isFinal == true
        }
        #expect(try await queue.record(a)?.status == .failed("disk full"))
        #expect(try await queue.record(b)?.status == .failed("the work item failed"))
        let pipeline = try workPipeline(queue: queue)
        let body = await send(pipeline, "/work/\(b)", application: ApplicationState()).bodyText
        #expect(body.contains("\"failed\"") && !body.contains("hunter2"))
        await queue.shutdown(grace: .seconds(1))
    }

    /// Ten items at most `limit` at a time: each waits at a gate the test opens one item at a time, so the
    /// bound and the order are read off counters, never off timing.
    @Test(arguments: [1, 3])
    func boundedConcurrency(limit: Int) async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"), limits: .init(maxConcurrent: limit))
        let gate = TestGate()
        let current = Atomic<Int>(0), peak = Atomic<Int>(0)
        let started = Mutex<[Int]>([])
        var ids: [WorkItemID] = []
        for i in 0..<10 {
            ids.append(try queue.enqueue(name: "job\(i)") { _ in
                started.withLock { $0.append(i) }
                let now = current.add(1, ordering: .sequentiallyConsistent).newValue
                _ = peak.max(now, ordering: .sequentiallyConsistent)
                await gate.wait()
                current.subtract(1, ordering: .sequentiallyConsistent)
            })
        }
        for released in 0..<10 {
            let atGate = min(limit, 10 - released)
            let startedSoFar = min(10, released + limit)
            try await waitUntil("\(atGate) items at the gate after \(released) released (at the gate: \(gate.waiting), started: \(started.withLock { $0 }))") {
                gate.waiting == atGate && started.withLock { $0.count } == startedSoFar
            }
            // The items that started are exactly the earliest enqueued: first in, first out.
            #expect(Set(started.withLock { $0 }) == Set(0..<startedSoFar), "after \(released) released")
            if released == 0 {
                #expect(queue.runningCount == limit && queue.queuedCount == 10 - limit)
                for id in ids[limit...] { #expect(try await queue.record(id)?.status == .queued) }
            }
            gate.release(1)
        }
        try await waitUntil("all ten items to succeed") {
            for id in ids where try await queue.record(id)?.status != .succeeded { return false }
            return true
        }
        #expect(peak.load(ordering: .sequentiallyConsistent) == limit, "at most `limit` ran at once, and `limit` did")
        #expect(queue.peakRunning == limit)
        await queue.shutdown(grace: .seconds(1))
    }

    @Test func queueFullAnswers503WithRetryAfter() async throws {
        let queue = try BackgroundWorkQueue(databasePath: temporaryPath(".sqlite"),
                                            limits: .init(maxConcurrent: 1, maxQueued: 2, retryAfterSeconds: 7))
        let gate = TestGate()
        for _ in 0..<3 { try queue.enqueue(name: "fill") { _ in await gate.wait() } }
        #expect(throws: BackgroundWorkError.queueFull(retryAfterSeconds: 7)) {
            try queue.enqueue(name: "overflow") { _ in }
        }
        let pipeline = try workPipeline(queue: queue)
        let ctx = await send(pipeline, "/reports", method: .post, application: ApplicationState())
        #expect(ctx.response.status == .serviceUnavailable)
        #expect(ctx.response.headers["Retry-After"] == "7")
        gate.open()
        try await waitUntil("the queue to drain (running \(queue.runningCount), queued \(queue.queuedCount))") {
            queue.runningCount == 0 && queue.queuedCount == 0
        }
        try queue.enqueue(name: "fits again") { _ in }
        await queue.shutdown(grace: .seconds(1))
    }

    @Test func shutdownInterruptsUnfinishedAndAReopenedQueueReportsIt() async throws {
        let path = temporaryPath(".sqlite")
        let queue = try BackgroundWorkQueue(databasePath: path, limits: .init(maxConcurrent: 2))
        let quick = try queue.enqueue(name: "quick") { _ in try await Task.sleep(for: .milliseconds(50)) }
        let cooperative = try queue.enqueue(name: "cooperative") { work in
            while true { try await Task.sleep(for: .milliseconds(20)); await work.setProgress("still going") }
        }
        let stubbornGate = TestGate()
        let stubborn = try queue.enqueue(name: "stubborn") { _ in
            // Ignores cancellation entirely: only the gate ends its wait.
            await stubbornGate.waitIgnoringCancellation()
        }
        let waiting = try queue.enqueue(name: "waiting") { _ in }
        try await waitUntil("quick to succeed and cooperative to report progress") {
            let (q, c) = (try await queue.record(quick), try await queue.record(cooperative))
            return q?.status == .succeeded && c?.progress == "still going"
        }
        try await waitUntil("stubborn to run") { try await queue.record(stubborn)?.status == .running }
        #expect(try await queue.record(waiting)?.status == .queued)

        let summary = await queue.shutdown(grace: .milliseconds(200), cancellationGrace: .milliseconds(200))
        #expect(summary.interruptedQueued == 1)
        #expect(summary.cancelledRunning == 2)
        #expect(!queue.isAccepting)
        #expect(throws: BackgroundWorkError.self) { try queue.enqueue(name: "late") { _ in } }
        // The stubborn item ends now; it must not overwrite "interrupted".
        stubbornGate.open()
        try await waitUntil("the stubborn item to end") { queue.runningCount == 0 }

        let rows = try await sqliteRows(path)
        #expect(rows[quick.rawValue]?.status == "succeeded")
        #expect(rows[cooperative.rawValue]?.status == "interrupted")
        #expect(rows[stubborn.rawValue]?.status == "interrupted")
        #expect(rows[waiting.rawValue]?.status == "interrupted")
        #expect(rows[waiting.rawValue]?.message == "the server stopped before the item started")

        let reopened = try BackgroundWorkQueue(databasePath: path)
        #expect(reopened.recoveredItems.isEmpty)   // nothing was left running: shutdown recorded it all
        for id in [cooperative, stubborn, waiting] { #expect(try await reopened.record(id)?.status == .interrupted) }
        #expect(try await reopened.record(cooperative)?.progress == "still going")
        let pipeline = try workPipeline(queue: reopened)
        let status = try json(await send(pipeline, "/work/\(stubborn)", application: ApplicationState()))
        #expect(status["status"] as? String == "interrupted")
        #expect(status["message"] as? String != nil)
        await reopened.shutdown(grace: .seconds(1))
    }

    @Test func itemsLeftByADeadProcessAreInterruptedOnOpen() async throws {
        let path = temporaryPath(".sqlite")
        let first = try BackgroundWorkQueue(databasePath: path)   // creates the schema
        await first.shutdown(grace: .zero)
        let dead1 = WorkItemID(), dead2 = WorkItemID(), alive = WorkItemID()
        try await sqliteInsert(path, id: dead1.rawValue, status: "running", owner: "999999999:1")
        try await sqliteInsert(path, id: dead2.rawValue, status: "queued", owner: "1:0")   // pid 1, but a different start time
        let pid1 = try #require(ProcessIdentity.identity(of: 1))
        try await sqliteInsert(path, id: alive.rawValue, status: "running", owner: pid1)   // a live process owns it
        let queue = try BackgroundWorkQueue(databasePath: path)
        #expect(Set(queue.recoveredItems) == [dead1, dead2])
        #expect(try await queue.record(dead1)?.status == .interrupted)
        #expect(try await queue.record(dead2)?.status == .interrupted)
        #expect(try await queue.record(alive)?.status == .running)
        #expect(try await sqliteRows(path)[dead1.rawValue]?.status == "interrupted")
        await queue.shutdown(grace: .zero)
    }

    @Test func anAbandonedQueueInThisProcessIsRecoveredByTheNextOne() async throws {
        let path = temporaryPath(".sqlite")
        let crashed = try BackgroundWorkQueue(databasePath: path)
        let id = try crashed.enqueue(name: "lost") { _ in try await Task.sleep(for: .seconds(30)) }
        try await waitUntil("the item to run") { try await crashed.record(id)?.status == .running }
        let next = try BackgroundWorkQueue(databasePath: path)   // as after a crash: nobody called shutdown
        #expect(next.recoveredItems == [id])
        #expect(try await next.record(id)?.status == .interrupted)
        await crashed.shutdown(grace: .zero, cancellationGrace: .milliseconds(100))
        await next.shutdown(grace: .zero)
    }

    @Test func moduleOptionsPublishTheQueueAndDrainOnShutdown() async throws {
        let path = temporaryPath(".sqlite")
        let module = try BackgroundWorkModule(options: Options([
            "database": .string(path), "max_concurrent": .int(1), "max_queued": .int(5), "shutdown_grace": .double(0.1),
        ]))
        #expect(module.queue.limits == .init(maxConcurrent: 1, maxQueued: 5, retryAfterSeconds: 5))
        // A job that cannot finish on its own (1000 steps of 1 s): only the shutdown ends it.
        let handlerPipeline = try workPipeline(queue: nil, modules: [module], steps: 1000, step: .seconds(1))
        let app = ApplicationState()
        let ctx = await send(handlerPipeline, "/reports", method: .post, application: app)
        #expect(ctx.response.status == .accepted)
        #expect(app.services[BackgroundWorkQueue.self] === module.queue)
        let location = try #require(ctx.response.headers["Location"])
        await handlerPipeline.shutdown()
        let status = try json(await send(handlerPipeline, location, application: app))
        #expect(status["status"] as? String == "interrupted")
        #expect(throws: ConfigurationError.self) { try BackgroundWorkModule(options: Options([:])) }
        #expect(throws: ConfigurationError.self) {
            try BackgroundWorkModule(options: Options(["database": .string(path), "max_concurrent": .int(0)]))
        }
        // Without a queue anywhere, the handlers answer 503 rather than crash.
        let bare = try workPipeline(queue: nil)
        #expect(await send(bare, "/reports", method: .post, application: ApplicationState()).response.status == .serviceUnavailable)
    }
}

