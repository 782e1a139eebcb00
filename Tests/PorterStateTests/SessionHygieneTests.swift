import Foundation
import Porter
import Testing
@testable import PorterState

@Suite("Sessions: nothing stored for nothing; Secure by default")
struct SessionHygieneTests {
    /// Handlers that read the session, write and undo, empty it, or count.
    func pipeline(_ store: MemorySessionStore, configuration: SessionConfiguration = SessionConfiguration()) throws -> Pipeline {
        var registry = HandlerRegistry()
        try registry.add(name: "read", path: "/read", handler: ClosureHandler(sessionState: .exclusive) { ctx in
            ctx.response.write(ctx.session?["n"] ?? "-")
        })
        try registry.add(name: "undo", path: "/undo", handler: ClosureHandler(sessionState: .exclusive) { ctx in
            ctx.session?["n"] = "1"
            ctx.session?["n"] = nil
        })
        try registry.add(name: "set", path: "/set", handler: ClosureHandler(sessionState: .exclusive) { ctx in
            ctx.session?["n"] = "1"
        })
        try registry.add(name: "clear", path: "/clear", handler: ClosureHandler(sessionState: .exclusive) { ctx in
            ctx.session?["n"] = nil
        })
        try registry.add(name: "login", path: "/login", handler: ClosureHandler(sessionState: .exclusive) { ctx in
            ctx.regenerateSessionID()
        })
        return Pipeline(registry: registry, modules: [SessionModule(store: store, configuration: configuration)])
    }

    @Test func handlersThatStoreNothingNeverAddARow() async throws {
        let store = MemorySessionStore()
        let p = try pipeline(store)
        for path in ["/read", "/undo", "/login", "/clear"] {
            for _ in 0..<5 {
                let ctx = await request(p, path, sid: nil)
                #expect(setCookie(ctx, "porter_session") == nil, "\(path) set a session cookie")
            }
        }
        #expect(store.count == 0, "cookie-less requests that store nothing leave no session rows")
        // A cookie Porter never issued is not turned into a row either.
        _ = await request(p, "/read", sid: SessionID.generate())
        #expect(store.count == 0)
    }

    @Test func aSessionEmptiedByItsHandlerIsDeletedAndItsCookieCleared() async throws {
        let store = MemorySessionStore()
        let p = try pipeline(store)
        let sid = try #require(setCookie(await request(p, "/set", sid: nil), "porter_session")?.value)
        #expect(store.count == 1)
        let cleared = await request(p, "/clear", sid: sid)
        #expect(store.count == 0, "an emptied session is deleted")
        #expect(setCookie(cleared, "porter_session")?.maxAge == 0)
        #expect(bodyText(await request(p, "/read", sid: sid)) == "-")
        #expect(store.count == 0)
    }

    @Test func loginOnAnEmptyStoredSessionDoesNotCopyNothingToANewRow() async throws {
        let store = MemorySessionStore()
        let sid = SessionID.generate()
        try await store.insert(id: sid, data: SessionCodec.encode([:]), timeoutSeconds: 600, lockOwner: nil, lease: .seconds(60))
        let p = try pipeline(store)
        let login = await request(p, "/login", sid: sid)
        #expect(store.count == 0, "the empty session is deleted, and no empty row is inserted for the new id")
        #expect(setCookie(login, "porter_session")?.maxAge == 0)
    }

    @Test func sessionCookiesAreSecureUnlessTheConfigurationSaysPlainHTTP() async throws {
        #expect(SessionConfiguration().cookieSecure, "Secure is the default")
        #expect(try SessionConfiguration(options: Options()).cookieSecure)
        let store = MemorySessionStore()
        let secure = try #require(setCookie(await request(try pipeline(store), "/set", sid: nil), "porter_session"))
        #expect(secure.secure && secure.headerValue.contains("; Secure"))
        let plain = try SessionConfiguration(options: Options(["cookie_secure": .bool(false)]))
        let cookie = try #require(setCookie(await request(try pipeline(store, configuration: plain), "/set", sid: nil), "porter_session"))
        #expect(!cookie.secure)
    }
}
