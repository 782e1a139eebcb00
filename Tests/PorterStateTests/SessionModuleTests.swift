import Foundation
import Porter
import Synchronization
import PorterTesting
import Testing
@testable import PorterState

/// A pipeline with a session module over `store` and a few session-using handlers.
func sessionPipeline(_ store: any SessionStore, configuration: SessionConfiguration = SessionConfiguration(),
                     extraModules: [any HTTPModule] = [], latch: Latch? = nil, gate: Gate? = nil) throws -> Pipeline {
    var registry = HandlerRegistry()
    // Read a counter, wait, write counter+1: loses updates unless exclusive requests are serialised.
    try registry.add(name: "count", path: "/count", handler: AsyncClosureHandler(sessionState: .exclusive) { ctx in
        let n = ctx.session?.int("n") ?? 0
        try await Task.sleep(for: .milliseconds(5))
        ctx.session?["n"] = String(n + 1)
        ctx.response.write(String(n + 1))
    })
    // Counts once per request, even when nginx re-sends a request whose first host saved it and then died.
    try registry.add(name: "once", path: "/once", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        let repeated = ctx.session?.repeatsSavedRequest == true
        let n = (ctx.session?.int("n") ?? 0) + (repeated ? 0 : 1)
        ctx.session?["n"] = String(n)
        ctx.response.write("\(n) \(repeated) \(ctx.session?.values.keys.sorted() ?? [])")
    })
    try registry.add(name: "init", path: "/init", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        ctx.session?["n"] = "0"
    })
    try registry.add(name: "peek", path: "/peek", handler: AsyncClosureHandler(sessionState: .readOnly) { ctx in
        let n = ctx.session?["n"] ?? "-"
        if let latch { _ = await latch.arrive() }
        ctx.session?["n"] = "999" // discarded: read-only
        ctx.response.write(n)
    })
    try registry.add(name: "hold", path: "/hold", handler: AsyncClosureHandler(sessionState: .exclusive) { ctx in
        if let gate {
            await gate.arrive(holding: true)
            _ = await gate.waitOpen()
            await gate.arrive(holding: false)
        } else {
            try await Task.sleep(for: .milliseconds(Int(ctx.request.query["ms"] ?? "300") ?? 300))
        }
    })
    try registry.add(name: "none", path: "/none", handler: ClosureHandler { ctx in
        ctx.response.write(ctx.session == nil ? "no session" : "session")
    })
    try registry.add(name: "big", path: "/big", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        ctx.session?["blob"] = String(repeating: "x", count: Int(ctx.request.query["size"] ?? "0") ?? 0)
    })
    try registry.add(name: "fail", path: "/fail", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        ctx.session?["n"] = "from-failed-request"
        throw HTTPError(.badRequest)
    })
    try registry.add(name: "abandon", path: "/abandon", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        ctx.session?.abandon()
    })
    try registry.add(name: "regenerate", path: "/regenerate", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        ctx.session?["login"] = "yes"
        ctx.regenerateSessionID()
    })
    let completer = ClosureModule(name: "completer") { events in
        events.on(.postAcquireRequestState) { ctx in
            if ctx.request.query["complete"] != nil {
                ctx.session?["n"] = "completed"
                ctx.completeRequest()
            }
        }
    }
    return Pipeline(registry: registry, modules: [SessionModule(store: store, configuration: configuration), completer] + extraModules)
}

/// Runs `uri` with the session cookie `sid` (if any) and returns the context.
func request(_ pipeline: Pipeline, _ uri: String, sid: String?, cookieName: String = "porter_session") async -> HTTPContext {
    let ctx = makeContext(.get, uri, headers: sid.map { ["Cookie": "\(cookieName)=\($0)"] } ?? [:])
    await pipeline.run(ctx)
    return ctx
}

/// Starts a session through `/init` and returns its id.
func startSession(_ pipeline: Pipeline) async throws -> String {
    let ctx = await request(pipeline, "/init", sid: nil)
    return try #require(setCookie(ctx, "porter_session")?.value)
}

@Suite("Session module")
struct SessionModuleTests {
    @Test func newSessionIsCreatedOnFirstWriteWithASecureCookie() async throws {
        let store = MemorySessionStore()
        let pipeline = try sessionPipeline(store)
        let untouched = await request(pipeline, "/peek", sid: nil)
        #expect(untouched.response.cookies.isEmpty, "a session nobody wrote to is not stored")
        #expect(store.count == 0)
        let first = await request(pipeline, "/count", sid: nil)
        let cookie = try #require(setCookie(first, "porter_session"))
        #expect(SessionID.isWellFormed(cookie.value))
        #expect(cookie.httpOnly && cookie.sameSite == .lax && cookie.path == "/")
        #expect(bodyText(first) == "1")
        let second = await request(pipeline, "/count", sid: cookie.value)
        #expect(bodyText(second) == "2")
        #expect(second.response.cookies.isEmpty, "an existing session's cookie is not re-sent")
    }

    /// nginx re-sends an idempotent request to the next host when the first fails (`fastcgi_next_upstream`), with
    /// the same `$request_id`. If the first host saved the session before dying, the second sees the save.
    @Test func aRequestResentAfterItsHostFailedSeesItsOwnSave() async throws {
        // (REQUEST_ID, expected "n repeated keys"), in order on one session; "" = no REQUEST_ID (no nginx).
        let steps = [("r1", "1 false [\"n\"]"), ("r1", "1 true [\"n\"]"), ("r2", "2 false [\"n\"]"), ("r2", "2 true [\"n\"]"),
                     ("", "3 false [\"n\"]"), ("", "4 false [\"n\"]"), ("r1", "5 false [\"n\"]")]
        let pipeline = try sessionPipeline(MemorySessionStore())
        let sid = try await startSession(pipeline)
        for (requestID, expected) in steps {
            let ctx = makeContext(.get, "/once", headers: ["Cookie": "porter_session=\(sid)"],
                                  parameters: requestID.isEmpty ? [:] : ["REQUEST_ID": requestID])
            await pipeline.run(ctx)
            #expect(bodyText(ctx) == expected, "REQUEST_ID \(requestID)")
        }
        // A read-only request never claims to repeat one.
        let peek = makeContext(.get, "/peek", headers: ["Cookie": "porter_session=\(sid)"], parameters: ["REQUEST_ID": "r1"])
        await pipeline.run(peek)
        #expect(peek.session?.repeatsSavedRequest == false)
    }

    @Test func disabledHandlersGetNoSession() async throws {
        let store = MemorySessionStore()
        let pipeline = try sessionPipeline(store)
        let sid = try await startSession(pipeline)
        let ctx = await request(pipeline, "/none", sid: sid)
        #expect(bodyText(ctx) == "no session")
    }

    @Test func unknownOrForgedIdsAreReplaced() async throws {
        let pipeline = try sessionPipeline(MemorySessionStore())
        for forged in ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "short", "'; DROP TABLE porter_sessions; --"] {
            let ctx = await request(pipeline, "/count", sid: forged)
            #expect(bodyText(ctx) == "1")
            let issued = try #require(setCookie(ctx, "porter_session")?.value)
            #expect(issued != forged, "a client-chosen id is never adopted (no session fixation)")
        }
    }

    @Test func readOnlyChangesAreDiscardedButExpiryIsExtended() async throws {
        let clock = ManualClock()
        let store = MemorySessionStore(clock: clock.wallClock)
        var configuration = SessionConfiguration()
        configuration.timeout = .seconds(120)
        let pipeline = try sessionPipeline(store, configuration: configuration)
        let sid = try await startSession(pipeline)
        clock.advance(by: .seconds(100))
        #expect(bodyText(await request(pipeline, "/peek", sid: sid)) == "0")
        clock.advance(by: .seconds(100))
        #expect(bodyText(await request(pipeline, "/peek", sid: sid)) == "0", "read-only requests slide the expiry too")
        clock.advance(by: .seconds(121))
        #expect(bodyText(await request(pipeline, "/peek", sid: sid)) == "-", "an expired session is not returned")
    }

    @Test(arguments: ["memory", "sqlite", "postgres"])
    func concurrentExclusiveRequestsOfOneSessionNeverInterleave(kind: String) async throws {
        let (first, second) = try await twoStores(kind)
        // Twenty requests queue for one session's lock; the lock timeout is only a hang guard here.
        var configuration = SessionConfiguration()
        configuration.lockTimeout = hangGuard
        let a = try sessionPipeline(first, configuration: configuration), b = try sessionPipeline(second, configuration: configuration)
        // 20 concurrent read-sleep-write requests, alternating between two "processes" sharing the store.
        let final = try await withServices(services(of: first, second)) {
            let sid = try await startSession(a)
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<20 {
                    group.addTask { _ = await request(i % 2 == 0 ? a : b, "/count", sid: sid) }
                }
            }
            return await request(a, "/peek", sid: sid)
        }
        #expect(bodyText(final) == "20")
        await first.close()
        if kind != "memory" { await second.close() }
    }

    @Test func readOnlyRequestsRunConcurrently() async throws {
        // Five read-only requests meet at a latch inside the handler: only possible if they run at the same time.
        let latch = Latch(count: 5)
        let pipeline = try sessionPipeline(MemorySessionStore(), latch: latch)
        let sid = try await startSession(pipeline)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<5 { group.addTask { _ = await request(pipeline, "/peek", sid: sid) } }
        }
        #expect(await latch.reachedAll, "read-only requests of one session overlapped")
    }

    @Test func readOnlyRequestsDoNotWaitForTheWriter() async throws {
        // An exclusive request holds the lock until the test opens its gate; a read-only request must finish before.
        let gate = Gate()
        let pipeline = try sessionPipeline(MemorySessionStore(), gate: gate)
        let sid = try await startSession(pipeline)
        async let holder = request(pipeline, "/hold", sid: sid)
        #expect(await gate.waitUntilHolding())
        let peek = await request(pipeline, "/peek", sid: sid)
        #expect(bodyText(peek) == "0")
        #expect(await gate.isHolding, "the writer still held the lock while the reader finished")
        await gate.open()
        #expect(await holder.response.status == .ok)
    }

    @Test func lockTimeoutAnswers503WithRetryAfter() async throws {
        var configuration = SessionConfiguration()
        configuration.lockTimeout = .milliseconds(100)
        let gate = Gate()
        let pipeline = try sessionPipeline(MemorySessionStore(), configuration: configuration, gate: gate)
        let sid = try await startSession(pipeline)
        async let holder = request(pipeline, "/hold", sid: sid)
        #expect(await gate.waitUntilHolding())
        let waiter = await request(pipeline, "/count", sid: sid)
        #expect(waiter.response.status == .serviceUnavailable)
        #expect(waiter.response.headers["Retry-After"] == "1")
        await gate.open()
        #expect(await holder.response.status == .ok)
        #expect(bodyText(await request(pipeline, "/count", sid: sid)) == "1", "the lock is free again afterwards")
    }

    @Test func failedAndCompletedRequestsStillReleaseTheLock() async throws {
        var configuration = SessionConfiguration()
        configuration.lockTimeout = .milliseconds(300)
        let pipeline = try sessionPipeline(MemorySessionStore(), configuration: configuration)
        let sid = try await startSession(pipeline)
        let failed = await request(pipeline, "/fail", sid: sid)
        #expect(failed.response.status == .badRequest)
        #expect(bodyText(await request(pipeline, "/peek", sid: sid)) == "0", "a failed request's changes are discarded")
        // CompleteRequest after AcquireRequestState skips ReleaseRequestState; EndRequest saves and releases.
        let completed = await request(pipeline, "/count?complete=1", sid: sid)
        #expect(completed.isCompleted)
        #expect(bodyText(await request(pipeline, "/peek", sid: sid)) == "completed")
        let next = await request(pipeline, "/init", sid: sid)
        #expect(next.response.status == .ok, "no lock leaked: the next exclusive request is not blocked")
    }

    @Test func oversizedSessionIsRefusedNotTruncated() async throws {
        var configuration = SessionConfiguration()
        configuration.maxBytes = 1000
        let store = MemorySessionStore()
        let pipeline = try sessionPipeline(store, configuration: configuration)
        let sid = try await startSession(pipeline)
        let big = await request(pipeline, "/big?size=2000", sid: sid)
        #expect(big.response.status == .internalServerError)
        #expect(!bodyText(big).contains("max_bytes"), "no internals in the response")
        let stored = try #require(try await store.read(id: sid))
        #expect(SessionCodec.decode(stored.data) == ["n": "0"], "the old values are kept, nothing truncated")
        #expect(await request(pipeline, "/big?size=100", sid: sid).response.status == .ok)
    }

    @Test func abandonDeletesTheSessionAndClearsTheCookie() async throws {
        let store = MemorySessionStore()
        let pipeline = try sessionPipeline(store)
        let sid = try await startSession(pipeline)
        let ctx = await request(pipeline, "/abandon", sid: sid)
        let cleared = try #require(setCookie(ctx, "porter_session"))
        #expect(cleared.maxAge == 0)
        #expect(try await store.read(id: sid) == nil)
        #expect(bodyText(await request(pipeline, "/count", sid: sid)) == "1", "a new session starts")
    }

    @Test func regenerateMovesValuesToANewIdAndDeletesTheOld() async throws {
        let store = MemorySessionStore()
        let pipeline = try sessionPipeline(store)
        let sid = try await startSession(pipeline)
        let ctx = await request(pipeline, "/regenerate", sid: sid)
        let newID = try #require(setCookie(ctx, "porter_session")?.value)
        #expect(newID != sid && SessionID.isWellFormed(newID))
        #expect(try await store.read(id: sid) == nil)
        let moved = SessionCodec.decode(try #require(try await store.read(id: newID)).data)
        #expect(moved == ["n": "0", "login": "yes"])
        #expect(bodyText(await request(pipeline, "/count", sid: newID)) == "1")
    }

    @Test func expiredSessionsArePurgedByThePurgerService() async throws {
        let clock = ManualClock()
        let store = MemorySessionStore(clock: clock.wallClock)
        var configuration = SessionConfiguration()
        configuration.timeout = .seconds(60)
        configuration.purgeInterval = .milliseconds(20)
        let module = SessionModule(store: store, configuration: configuration, clock: clock.wallClock)
        var registry = HandlerRegistry()
        try registry.add(name: "w", path: "/w", handler: ClosureHandler(sessionState: .exclusive) { $0.session?["x"] = "1" })
        let pipeline = Pipeline(registry: registry, modules: [module])
        for _ in 0..<3 { await pipeline.run(makeContext(.get, "/w")) }
        #expect(store.count == 3, "requests never purge: only the purger service does")
        #expect(module.services.count == 1 && module.services.first is SessionPurger)
        try await withServices(module.services) {
            clock.advance(by: .seconds(61))
            await pipeline.run(makeContext(.get, "/w"))
            try await waitUntil("the purger removed the three expired sessions") { store.count == 1 }
        }
    }

    @Test func aZeroPurgeIntervalRunsNoPurger() {
        var configuration = SessionConfiguration()
        configuration.purgeInterval = .zero
        #expect(SessionModule(store: MemorySessionStore(), configuration: configuration).services.isEmpty)
    }

    @Test func optionsAreReadAndValidated() throws {
        let c = try SessionConfiguration(options: Options([
            "cookie_name": .string("sid"), "timeout_minutes": .int(5), "max_bytes": .int(4096),
            "lock_timeout_ms": .int(250), "cookie_secure": .bool(true),
        ]))
        #expect(c.cookieName == "sid" && c.timeout == .seconds(300) && c.maxBytes == 4096)
        #expect(c.lockTimeout == .milliseconds(250) && c.cookieSecure)
        #expect(throws: ConfigurationError.self) { try SessionConfiguration(options: Options(["timeout_minutes": .int(0)])) }
        #expect(throws: ConfigurationError.self) { try SessionConfiguration(options: Options(["cookie_name": .string("a b")])) }
        #expect(throws: ConfigurationError.self) { try SessionConfiguration(options: Options(["max_bytes": .string("lots")])) }
    }
}

/// Two store instances of `kind` over one backing database (the same instance for memory).
func twoStores(_ kind: String) async throws -> (any SessionStore, any SessionStore) {
    switch kind {
    case "memory":
        let store = MemorySessionStore()
        return (store, store)
    case "sqlite":
        let path = try temporaryDirectory().appendingPathComponent("s.sqlite").path
        return (try SQLiteSessionStore(path: path), try SQLiteSessionStore(path: path))
    default:
        let server = try await postgresServer()
        let configuration = try await server.makeDatabase()
        return (PostgresSessionStore(connection: configuration), PostgresSessionStore(connection: configuration))
    }
}

/// Lets `count` arrivals through together; an arrival gives up after the hang guard (then `reachedAll` is
/// false and the test fails).
actor Latch {
    let count: Int
    private var arrived = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private(set) var reachedAll = false

    init(count: Int) { self.count = count }

    func arrive() async -> Bool {
        arrived += 1
        if arrived >= count {
            reachedAll = true
            for w in waiters { w.resume() }
            waiters = []
            return true
        }
        let deadline = Task { [weak self] in
            // Gives up only if the guard ran out, not when it is cancelled because the wait ended.
            guard (try? await Task.sleep(for: hangGuard)) != nil else { return }
            await self?.giveUp()
        }
        await withCheckedContinuation { waiters.append($0) }
        deadline.cancel()
        return reachedAll
    }

    private func giveUp() {
        for w in waiters { w.resume() }
        waiters = []
    }
}

/// A gate an exclusive handler waits at while holding its session lock, until the test opens it.
/// Both waits resume on the state change itself; the hang guard only ends a wait that would never end.
actor Gate {
    private(set) var isHolding = false
    private var opened = false
    private var openWaiters: [CheckedContinuation<Void, Never>] = []
    private var holdingWaiters: [CheckedContinuation<Void, Never>] = []

    func arrive(holding: Bool) {
        isHolding = holding
        if holding { resumeAll(&holdingWaiters) }
    }

    func open() {
        opened = true
        resumeAll(&openWaiters)
    }

    /// Waits until `open()`; false if the hang guard ran out first.
    func waitOpen() async -> Bool {
        if !opened { await wait(forOpen: true) }
        return opened
    }

    /// Waits until the handler holds the lock; false if the hang guard ran out first.
    func waitUntilHolding() async -> Bool {
        if !isHolding { await wait(forOpen: false) }
        return isHolding
    }

    private func wait(forOpen: Bool) async {
        let guardTask = Task { [weak self] in
            // Gives up only if the guard ran out, not when it is cancelled because the wait ended.
            guard (try? await Task.sleep(for: hangGuard)) != nil else { return }
            await self?.giveUp()
        }
        await withCheckedContinuation { continuation in
            if forOpen { openWaiters.append(continuation) } else { holdingWaiters.append(continuation) }
        }
        guardTask.cancel()
    }

    private func giveUp() {
        resumeAll(&openWaiters)
        resumeAll(&holdingWaiters)
    }

    private func resumeAll(_ list: inout [CheckedContinuation<Void, Never>]) {
        for w in list { w.resume() }
        list = []
    }
}

/// A client that never returns the cookie starts a session per request: `new_sessions_per_client` bounds how many one
/// address stores per window (found attacking the demo: 77,000 rows in 10 s against /visits). Past the limit requests
/// are still served, without a stored session or a cookie; other addresses and the next window are unaffected.
@Suite("New sessions per client")
struct NewSessionLimitTests {
    @Test func oneAddressStoresAtMostTheLimitPerWindow() async throws {
        let clock = ManualClock()
        let store = MemorySessionStore()
        var configuration = SessionConfiguration()
        configuration.newSessionsPerClient = 3
        var registry = HandlerRegistry()
        try registry.add(name: "visit", path: "/visit", handler: ClosureHandler(sessionState: .exclusive) { ctx in
            let n = (ctx.session?.int("n") ?? 0) + 1
            ctx.session?["n"] = String(n)
            ctx.response.write(String(n))
        })
        let pipeline = Pipeline(registry: registry, modules: [SessionModule(store: store, configuration: configuration, clock: clock.wallClock)])
        func visit(from address: String, sid: String? = nil) async -> HTTPContext {
            let ctx = makeContext(.get, "/visit", headers: sid.map { ["Cookie": "porter_session=\($0)"] } ?? [:])
            ctx.request.remoteAddress = address
            await pipeline.run(ctx)
            return ctx
        }
        var cookies: [String] = []
        for _ in 0..<10 {
            let ctx = await visit(from: "203.0.113.7")
            #expect(ctx.response.status == .ok && bodyText(ctx) == "1", "still served")
            if let cookie = setCookie(ctx, "porter_session") { cookies.append(cookie.value) }
        }
        #expect(cookies.count == 3 && store.count == 3, "\(cookies.count) cookies, \(store.count) stored")
        // A stored session keeps working for its client; another address starts its own.
        #expect(bodyText(await visit(from: "203.0.113.7", sid: cookies[0])) == "2")
        #expect(setCookie(await visit(from: "198.51.100.2"), "porter_session") != nil)
        #expect(store.count == 4)
        // The next window admits the address again.
        clock.advance(by: .seconds(601))
        #expect(setCookie(await visit(from: "203.0.113.7"), "porter_session") != nil)
        #expect(store.count == 5)
    }

    @Test func theOptionAndItsDefault() throws {
        #expect(SessionConfiguration().newSessionsPerClient == 1000)
        #expect(try SessionConfiguration(options: Options(["new_sessions_per_client": .int(0)])).newSessionsPerClient == 0)
        #expect(throws: ConfigurationError.self) { try SessionConfiguration(options: Options(["new_sessions_per_client": .int(-1)])) }
        let unlimited = NewSessionLimit(limit: 0)
        #expect((0..<5000).allSatisfy { _ in unlimited.admit("a").admitted })
    }

    @Test("a full table never forgets an address at its limit early; while every remembered address is at it, new ones wait for a window to end")
    func capsSurviveAFullTable() {
        let clock = ManualClock()
        let limit = NewSessionLimit(limit: 2, capacity: 16, clock: clock.wallClock)
        #expect(limit.admit("a").admitted && limit.admit("a").admitted && !limit.admit("a").admitted)
        // Attack pass 30: more addresses than the table holds, one session each, cleared the table and with it a's cap.
        for i in 0..<1000 { #expect(limit.admit("10.0.\(i / 256).\(i % 256)").admitted) }
        #expect(!limit.admit("a").admitted, "still at its limit after the table turned over")
        // Addresses at the limit fill the table (it never grows past its capacity): a new address is refused too.
        for i in 0..<15 { _ = limit.admit("c\(i)"); _ = limit.admit("c\(i)") }
        #expect(!limit.admit("new").admitted)
        // Once their window ends everyone starts afresh.
        clock.advance(by: .seconds(601))
        #expect(limit.admit("new").admitted && limit.admit("a").admitted)
    }

    @Test("the client a limit counts: IPv4 as it is, IPv6 by its /64", arguments: [
        ("203.0.113.7", "203.0.113.7"), ("", ""), ("not an address", "not an address"),
        ("2001:db8:0:1::1", "20010db800000001/64"), ("2001:db8:0:1:ffff:eeee:dddd:cccc", "20010db800000001/64"),
        ("[2001:db8:0:1::2]", "20010db800000001/64"), ("2001:db8:0:2::1", "20010db800000002/64"), ("::1", "0000000000000000/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
    ])
    func clientKey(_ address: String, _ key: String) {
        #expect(HTTPRequest.clientKey(address) == key)
    }

    @Test func addressesOfOneIPv6NetworkShareALimit() async throws {
        let store = MemorySessionStore()
        var configuration = SessionConfiguration()
        configuration.newSessionsPerClient = 3
        var registry = HandlerRegistry()
        try registry.add(name: "visit", path: "/visit", handler: ClosureHandler(sessionState: .exclusive) { ctx in ctx.session?["n"] = "1" })
        let pipeline = Pipeline(registry: registry, modules: [SessionModule(store: store, configuration: configuration)])
        for i in 0..<10 {
            let ctx = makeContext(.get, "/visit")
            ctx.request.remoteAddress = "2001:db8:0:1::\(i + 1)"
            await pipeline.run(ctx)
            #expect(ctx.response.status == .ok)
        }
        #expect(store.count == 3, "ten addresses of one /64 stored \(store.count)")
    }
}
