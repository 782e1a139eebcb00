import Foundation
import Porter
import PorterTesting
import Synchronization
import Testing
@testable import PorterState

struct Cart: Codable, Equatable, Sendable {
    var items: [String]
    var total: Decimal
}

enum CartKey: SessionKey {
    typealias Value = Cart
    static let name = "cart"
}

/// A store that counts `acquire` calls (to see a read-only request waiting for the writer's lock).
final class AcquireCountingStore: SessionStore {
    let inner: MemorySessionStore
    private let acquires = Mutex(0)
    init(_ inner: MemorySessionStore) { self.inner = inner }
    var acquireCount: Int { acquires.withLock { $0 } }
    var kind: String { "counting" }
    func read(id: String) async throws -> SessionRecord? { try await inner.read(id: id) }
    func acquire(id: String, owner: String, wait: Duration, lease: Duration) async throws -> SessionRecord? {
        acquires.withLock { $0 += 1 }
        return try await inner.acquire(id: id, owner: owner, wait: wait, lease: lease)
    }
    func insert(id: String, data: String, timeoutSeconds: Int, lockOwner: String?, lease: Duration) async throws {
        try await inner.insert(id: id, data: data, timeoutSeconds: timeoutSeconds, lockOwner: lockOwner, lease: lease)
    }
    func save(id: String, owner: String, data: String, timeoutSeconds: Int) async throws -> Bool {
        try await inner.save(id: id, owner: owner, data: data, timeoutSeconds: timeoutSeconds)
    }
    func release(id: String, owner: String, timeoutSeconds: Int) async throws {
        try await inner.release(id: id, owner: owner, timeoutSeconds: timeoutSeconds)
    }
    func touch(id: String, timeoutSeconds: Int) async throws { try await inner.touch(id: id, timeoutSeconds: timeoutSeconds) }
    func delete(id: String, owner: String?) async throws { try await inner.delete(id: id, owner: owner) }
    func purgeExpired() async throws -> Int { try await inner.purgeExpired() }
    func close() async {}
}

/// Records Session_Start and Session_End.
final class SessionEventLog: Sendable {
    let started = Mutex<[String]>([])
    let ended = Mutex<[EndedSession]>([])

    /// A module that subscribes to the session events and writes `visits` = 1 at Session_Start.
    func module() -> PublishingModule {
        let log = self
        return ClosureModule(name: "session-events") { _ in }.publishing { services in
            let events = SessionEvents.shared(in: services)
            events.onStart { _, session in
                log.started.withLock { $0.append(session.id) }
                try session.set(1, forKey: "visits")
            }
            events.onEnd { ended in log.ended.withLock { $0.append(ended) } }
        }
    }
}

/// A module with a `publish(in:)` body (ClosureModule has none).
struct PublishingModule: HTTPModule {
    let base: ClosureModule
    let publishBody: @Sendable (ApplicationServices) -> Void
    var name: String { base.name }
    func subscribe(to events: inout ModuleEvents) { base.subscribe(to: &events) }
    func publish(in services: ApplicationServices) { publishBody(services) }
}

extension ClosureModule {
    func publishing(_ body: @escaping @Sendable (ApplicationServices) -> Void) -> PublishingModule {
        PublishingModule(base: self, publishBody: body)
    }
}

/// Handlers using typed values.
func typedValuesRegistry() throws -> HandlerRegistry {
    var registry = HandlerRegistry()
    try registry.add(name: "add", path: "/cart/add", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        var cart = ctx.session?[CartKey.self] ?? Cart(items: [], total: 0)
        cart.items.append(ctx.request.query["item"] ?? "?")
        cart.total += Decimal(string: ctx.request.query["price"] ?? "0") ?? 0
        ctx.session?[CartKey.self] = cart
        ctx.response.write("\(cart.items.count)")
    })
    try registry.add(name: "show", path: "/cart", handler: ClosureHandler(sessionState: .readOnly) { ctx in
        let cart = ctx.session?[CartKey.self]
        ctx.response.write(cart.map { "\($0.items.joined(separator: ",")) \($0.total)" } ?? "empty")
    })
    try registry.add(name: "set", path: "/set", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        let size = Int(ctx.request.query["size"] ?? "0") ?? 0
        do {
            try ctx.session?.set([String](repeating: "x", count: size), forKey: "list")
            ctx.response.write("stored")
        } catch let error as SessionTooLarge {
            ctx.response.setText("\(error)", status: .payloadTooLarge)
        }
    })
    try registry.add(name: "get", path: "/get", handler: ClosureHandler(sessionState: .readOnly) { ctx in
        let count = try ctx.session?.get([String].self, forKey: ctx.request.query["key"] ?? "list")?.count
        ctx.response.write(count.map(String.init) ?? "none")
    })
    try registry.add(name: "abandon", path: "/abandon", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        ctx.session?.abandon()
    })
    try registry.add(name: "visits", path: "/visits", handler: ClosureHandler(sessionState: .exclusive) { ctx in
        let n = try ctx.session?.get(Int.self, forKey: "visits") ?? 0
        try ctx.session?.set(n + 1, forKey: "visits")
        ctx.response.write("\(n + 1)")
    })
    return registry
}

@Suite("Session values, locking and events")
struct SessionValuesTests {
    func run(_ pipeline: Pipeline, _ app: ApplicationState, _ uri: String, sid: String?) async -> HTTPContext {
        let ctx = makeContext(.get, uri, headers: sid.map { ["Cookie": "porter_session=\($0)"] } ?? [:], application: app)
        await pipeline.run(ctx)
        return ctx
    }

    func app(_ modules: [any HTTPModule]) -> ApplicationState {
        let app = ApplicationState()
        for module in modules { module.publish(in: app.services) }
        return app
    }

    @Test(arguments: ["memory", "sqlite"])
    func codableValuesRoundTripThroughTheStore(kind: String) async throws {
        let (store, _) = try await twoStores(kind)
        let pipeline = Pipeline(registry: try typedValuesRegistry(), modules: [SessionModule(store: store)])
        let app = ApplicationState()
        let first = await run(pipeline, app, "/cart/add?item=apple&price=1.25", sid: nil)
        let sid = try #require(setCookie(first, "porter_session")?.value)
        #expect(bodyText(await run(pipeline, app, "/cart/add?item=pear&price=2.5", sid: sid)) == "2")
        #expect(bodyText(await run(pipeline, app, "/cart", sid: sid)) == "apple,pear 3.75")
        let stored = try #require(try await store.read(id: sid))
        let values = try #require(SessionCodec.decode(stored.data))
        #expect(values["cart"]?.contains("\"pear\"") == true, "stored as JSON text inside the session's JSON")
        await store.close()
    }

    @Test func oversizedValueIsRefusedAtTheWriteWithAClearError() async throws {
        var configuration = SessionConfiguration()
        configuration.maxBytes = 1000
        let store = MemorySessionStore()
        let pipeline = Pipeline(registry: try typedValuesRegistry(), modules: [SessionModule(store: store, configuration: configuration)])
        let app = ApplicationState()
        let small = await run(pipeline, app, "/set?size=10", sid: nil)
        let sid = try #require(setCookie(small, "porter_session")?.value)
        let big = await run(pipeline, app, "/set?size=1000", sid: sid)
        #expect(big.response.status == .payloadTooLarge)
        #expect(bodyText(big).contains("session value list not stored"))
        #expect(bodyText(big).contains("max_bytes = 1000"))
        #expect(bodyText(await run(pipeline, app, "/get", sid: sid)) == "10", "the old value is kept")
    }

    @Test func aValueOfAnotherTypeIsAClearErrorNotACrash() async throws {
        let store = MemorySessionStore()
        let pipeline = Pipeline(registry: try typedValuesRegistry(), modules: [SessionModule(store: store)])
        let app = ApplicationState()
        let first = await run(pipeline, app, "/cart/add?item=apple&price=1", sid: nil)
        let sid = try #require(setCookie(first, "porter_session")?.value)
        // The cart is an object, not [String]: get throws SessionValueUnreadable (500, no internals shown).
        let wrong = await run(pipeline, app, "/get?key=cart", sid: sid)
        #expect(wrong.response.status == .internalServerError)
        #expect(!bodyText(wrong).contains("cart"))
        // A tampered stored value reads as nil through the typed key.
        let owner = SessionID.generate()
        _ = try await store.acquire(id: sid, owner: owner, wait: .seconds(1), lease: .seconds(10))
        try await store.save(id: sid, owner: owner, data: SessionCodec.encode(["cart": "{not json"]), timeoutSeconds: 600)
        #expect(bodyText(await run(pipeline, app, "/cart", sid: sid)) == "empty")
        #expect(bodyText(await run(pipeline, app, "/cart/add?item=x&price=1", sid: sid)) == "1", "the handler starts a new cart")
    }

    @Test func stringsStayPlainSoTheStringSubscriptReadsThem() throws {
        let session = HTTPSession(id: SessionID.generate(), isNew: true, isReadOnly: false)
        try session.set("hello", forKey: "greeting")
        #expect(session["greeting"] == "hello")
        try session.set(42, forKey: "n")
        #expect(session["n"] == "42")
        #expect(session.int("n") == 42)
        session["m"] = "7"
        #expect(try session.get(Int.self, forKey: "m") == 7)
        #expect(try session.get(String.self, forKey: "missing") == nil)
        session[CartKey.self] = nil
        #expect(session["cart"] == nil)
    }

    @Test func readersWaitForTheWriterWhenConfigured() async throws {
        var configuration = SessionConfiguration()
        configuration.readersWaitForWriter = true
        let store = AcquireCountingStore(MemorySessionStore())
        let gate = Gate()
        var registry = HandlerRegistry()
        try registry.add(name: "init", path: "/init", handler: ClosureHandler(sessionState: .exclusive) { $0.session?["n"] = "0" })
        try registry.add(name: "write", path: "/write", handler: AsyncClosureHandler(sessionState: .exclusive) { ctx in
            await gate.arrive(holding: true)
            _ = await gate.waitOpen()
            ctx.session?["n"] = "written"
        })
        try registry.add(name: "peek", path: "/peek", handler: ClosureHandler(sessionState: .readOnly) { ctx in
            ctx.response.write(ctx.session?["n"] ?? "-")
        })
        let pipeline = Pipeline(registry: registry, modules: [SessionModule(store: store, configuration: configuration)])
        let app = ApplicationState()
        let sid = try #require(setCookie(await run(pipeline, app, "/init", sid: nil), "porter_session")?.value)
        async let writer = run(pipeline, app, "/write", sid: sid)
        #expect(await gate.waitUntilHolding())
        async let reader = run(pipeline, app, "/peek", sid: sid)
        // The reader asks for the lock (the writer's acquire was the first), so it waits for the writer.
        try await waitUntil("the reader waits for the lock") { store.acquireCount >= 2 }
        await gate.open()
        #expect(await writer.response.status == .ok)
        #expect(bodyText(await reader) == "written", "the reader saw the writer's result")
        #expect(bodyText(await run(pipeline, app, "/peek", sid: sid)) == "written")
        #expect(await run(pipeline, app, "/write", sid: sid).response.status == .ok, "no lock leaked by readers")
    }

    @Test func readersWaitForWriterIsReadFromOptionsAndOffByDefault() throws {
        #expect(SessionConfiguration().readersWaitForWriter == false)
        let on = try SessionConfiguration(options: Options(["readers_wait_for_writer": .bool(true)], origin: "[session]"))
        #expect(on.readersWaitForWriter)
        #expect(throws: ConfigurationError.self) {
            try SessionConfiguration(options: Options(["readers_wait_for_writer": .string("yes please")], origin: "[session]"))
        }
    }

    @Test(arguments: ["memory", "sqlite"])
    func sessionStartRunsForNewSessionsAndEndOnAbandon(kind: String) async throws {
        let (store, _) = try await twoStores(kind)
        let log = SessionEventLog()
        let modules: [any HTTPModule] = [SessionModule(store: store), log.module()]
        let pipeline = Pipeline(registry: try typedValuesRegistry(), modules: modules)
        let app = app(modules)
        let first = await run(pipeline, app, "/visits", sid: nil)
        #expect(bodyText(first) == "2", "Session_Start wrote visits = 1 before the handler ran")
        let sid = try #require(setCookie(first, "porter_session")?.value)
        #expect(log.started.withLock { $0 } == [sid])
        #expect(bodyText(await run(pipeline, app, "/visits", sid: sid)) == "3")
        #expect(log.started.withLock { $0.count } == 1, "no Start for an existing session")
        _ = await run(pipeline, app, "/abandon", sid: sid)
        let ended = log.ended.withLock { $0 }
        #expect(ended == [EndedSession(id: sid, values: ["visits": "3"], reason: .abandoned)])
        // A forged cookie is a new session: Start again, with a fresh id.
        let forged = await run(pipeline, app, "/visits", sid: String(repeating: "A", count: 32))
        #expect(log.started.withLock { $0.count } == 2)
        #expect(setCookie(forged, "porter_session")?.value != String(repeating: "A", count: 32))
        await store.close()
    }

    @Test(arguments: ["memory", "sqlite"])
    func sessionEndRunsForExpiredSessionsTheStorePurged(kind: String) async throws {
        let clock = ManualClock()
        let store: any SessionStore = kind == "memory"
            ? MemorySessionStore(clock: clock.wallClock)
            : try SQLiteSessionStore(path: temporaryDirectory().appendingPathComponent("s.sqlite").path, clock: clock.wallClock)
        var configuration = SessionConfiguration()
        configuration.timeout = .seconds(60)
        configuration.purgeInterval = .seconds(30)
        let log = SessionEventLog()
        let app = ApplicationState()
        let module = SessionModule(store: store, configuration: configuration, clock: clock.wallClock,
                                   events: SessionEvents.shared(in: app.services))
        let modules: [any HTTPModule] = [module, log.module()]
        for module in modules { module.publish(in: app.services) }
        let pipeline = Pipeline(registry: try typedValuesRegistry(), modules: modules)
        let sid = try #require(setCookie(await run(pipeline, app, "/visits", sid: nil), "porter_session")?.value)
        clock.advance(by: .seconds(61))
        _ = await run(pipeline, app, "/cart", sid: nil)
        await module.purger?.purgeOnce()
        #expect(log.ended.withLock { $0 } == [EndedSession(id: sid, values: ["visits": "2"], reason: .expired)])
        await store.close()
    }
}
