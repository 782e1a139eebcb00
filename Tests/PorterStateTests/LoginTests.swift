import Foundation
import Porter
import Testing
@testable import PorterState

/// The demo set: authentication (cookie + SQLite users), authorization, session, login/logout and visits.
struct LoginFixture {
    let pipeline: Pipeline
    let sessions: MemorySessionStore
    let application = ApplicationState()

    /// One user database file made once (each KDF run is deliberately slow); every fixture opens its own copy,
    /// so a test that signs alice out (bumping her ticket generation) never revokes another test's cookie.
    static let template: Result<String, any Error> = Result {
        let path = try temporaryDirectory().appendingPathComponent("users.sqlite").path
        let users = try SQLiteUserStore(path: path, hasher: PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000)))
        try users.setPassword("open sesame", for: "alice")
        try users.addRole("admin", to: "alice")
        return path
    }

    /// A private copy of the template users database.
    static func makeUsers() throws -> SQLiteUserStore {
        let copy = try temporaryDirectory().appendingPathComponent("users.sqlite").path
        let source = try template.get()
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: source + suffix) {   // WAL mode: both hold data
            try FileManager.default.copyItem(atPath: source + suffix, toPath: copy + suffix)
        }
        return try SQLiteUserStore(path: copy, hasher: PasswordHasher(algorithm: .pbkdf2SHA256(iterations: 210_000)))
    }

    init(throttle: LoginThrottle = LoginThrottle(), kdf: KDFExecutor = KDFExecutor()) throws {
        let users = try Self.makeUsers()
        let auth = try CookieAuthentication(keys: [keyA])
        sessions = MemorySessionStore()
        var registry = HandlerRegistry()
        try registry.add(name: "login", verbs: "GET,HEAD,POST", path: "/login",
                         handler: LoginHandler(authentication: auth, users: users, kdf: kdf, throttle: throttle))
        try registry.add(name: "logout", verbs: "GET,POST", path: "/logout", handler: LogoutHandler(authentication: auth, generations: users))
        try registry.add(name: "visits", path: "/visits", handler: VisitsHandler())
        try registry.add(name: "admin", path: "/admin/*", handler: VisitsHandler())
        let authentication = AuthenticationModule(cookie: auth, roleSources: [users], users: users, kdf: kdf)
        authentication.publish(in: application.services)
        pipeline = Pipeline(registry: registry, modules: [
            authentication,
            AuthorizationModule(policy: AuthorizationPolicy([AuthorizationLocation(path: "/admin", rules: [
                AccessRule(.allow, roles: ["admin"]), AccessRule(.deny, users: ["*"]),
            ])]), loginURL: "/login"),
            SessionModule(store: sessions),
        ])
    }

    func run(_ ctx: HTTPContext) async -> HTTPContext {
        let c = HTTPContext(request: ctx.request, application: application, logger: ctx.logger)
        await pipeline.run(c)
        return c
    }

    /// The login page's anti-forgery cookie and its login/logout tokens, for a browser sending `cookies`.
    func form(cookies: String? = nil) async -> (cookie: String, login: String, logout: String?) {
        let page = await run(makeContext(.get, "/login", headers: cookies.map { ["Cookie": $0] } ?? [:]))
        let html = bodyText(page)
        func token(after marker: String) -> String? {
            guard let form = html.range(of: marker) else { return nil }
            let rest = html[form.upperBound...]
            guard let start = rest.range(of: "name=\"csrf\" value=\"") else { return nil }
            let value = rest[start.upperBound...]
            return String(value[..<value.firstIndex(of: "\"")!])
        }
        let sent = cookies.flatMap { CookieParser.parse($0)["porter_csrf"] }
        let cookie = setCookie(page, "porter_csrf")?.value ?? sent ?? ""
        return (cookie, token(after: "action=\"/login\"") ?? "", token(after: "action=\"/logout\""))
    }

    func login(user: String, password: String, returnURL: String?, cookies: String? = nil) async -> HTTPContext {
        let tokens = await form(cookies: cookies)
        var fields = [("user", user), ("password", password), ("csrf", tokens.login)]
        if let returnURL { fields.append(("returnUrl", returnURL)) }
        let all = [cookies, "porter_csrf=\(tokens.cookie)"].compactMap { $0 }.joined(separator: "; ")
        return await run(makeFormPost("/login", fields, cookies: all))
    }

    /// Signs out the browser sending `cookies` (which must include the login cookie) with a valid token.
    func logout(cookies: String, returnURL: String? = nil) async -> HTTPContext {
        let tokens = await form(cookies: cookies)
        var fields = [("csrf", tokens.logout ?? "")]
        if let returnURL { fields.append(("returnUrl", returnURL)) }
        return await run(makeFormPost("/logout", fields, cookies: cookies + "; porter_csrf=\(tokens.cookie)"))
    }
}

@Suite("Login, logout and the visits demo")
struct LoginTests {
    @Test("the login page and the visits page (sign-out form) may be framed by this site only")
    func formsDenyFramingByOtherSites() async throws {
        let f = try LoginFixture()
        let page = await f.run(makeContext(.get, "/login"))
        #expect(page.response.headers["Content-Security-Policy"] == "frame-ancestors 'self'")
        #expect(page.response.headers["X-Frame-Options"] == "SAMEORIGIN")
        let failed = await f.login(user: "alice", password: "wrong", returnURL: nil)
        #expect(failed.response.headers["X-Frame-Options"] == "SAMEORIGIN")
        let visits = await f.run(makeContext(.get, "/visits"))
        #expect(visits.response.headers["Content-Security-Policy"] == "frame-ancestors 'self'")
    }

    @Test func loginFormEscapesReturnUrl() async throws {
        let f = try LoginFixture()
        let ctx = await f.run(makeContext(.get, "/login?returnUrl=%2Fa%22%3E%3Cscript%3E"))
        #expect(ctx.response.status == .ok)
        let html = bodyText(ctx)
        #expect(html.contains("<form method=\"post\""))
        #expect(!html.contains("<script>"))
        #expect(html.contains("/a&quot;&gt;&lt;script&gt;"))
    }

    @Test func rightPasswordSetsCookieAndRedirects() async throws {
        let f = try LoginFixture()
        let ctx = await f.login(user: "alice", password: "open sesame", returnURL: "/admin/panel")
        #expect(ctx.response.status == .seeOther)
        #expect(ctx.response.headers["Location"] == "/admin/panel")
        let cookie = try #require(setCookie(ctx, "porter_auth"))
        #expect(cookie.headerValue.contains("; Secure; HttpOnly; SameSite=Lax"))
        let page = await f.run(makeContext(.get, "/admin/panel", headers: ["Cookie": "porter_auth=\(cookie.value)"]))
        #expect(page.response.status == .ok)
        let html = bodyText(page)
        #expect(html.contains("<dd id=\"user\">alice</dd>"))
        #expect(html.contains("<dd id=\"roles\">admin</dd>"))
        #expect(html.contains("<dd id=\"auth\">cookie</dd>"))
    }

    @Test func wrongPasswordShowsTheFormAgainWithoutCookie() async throws {
        let f = try LoginFixture()
        for (user, password) in [("alice", "open sesame!"), ("mallory", "open sesame"), ("", ""), ("alice", "")] {
            let ctx = await f.login(user: user, password: password, returnURL: "/visits")
            #expect(ctx.response.status == .ok)
            #expect(bodyText(ctx).contains("Invalid user name or password."))
            #expect(setCookie(ctx, "porter_auth") == nil)
            #expect(ctx.response.headers["Location"] == nil)
        }
    }

    @Test(arguments: [
        ("/visits?x=1", "/visits?x=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
        // Attack pass 31: raw non-ASCII reached the Location header; it is percent-encoded (still this site's path).
        ("/\u{A0}/evil.example", "/%C2%A0/evil.example"), ("/\u{3002}x", "/%E3%80%82x"), ("/\u{2028}", "/%E2%80%A8"),
        ("/caf\u{E9} menu", "/caf%C3%A9%20menu"), ("/a%20b", "/a%20b"),
    ])
    func returnUrlOpenRedirectIsRefused(returnURL: String, expected: String) async throws {
        let f = try LoginFixture()
        let ctx = await f.login(user: "alice", password: "open sesame", returnURL: returnURL)
        #expect(ctx.response.status == .seeOther)
        #expect(ctx.response.headers["Location"] == expected)
    }

    @Test func anonymousAdminRequestIsSentToLogin() async throws {
        let f = try LoginFixture()
        let ctx = await f.run(makeContext(.get, "/admin/panel"))
        #expect(ctx.response.status == .found)
        #expect(ctx.response.headers["Location"] == "/login?returnUrl=%2Fadmin%2Fpanel")
    }

    @Test func loginRegeneratesTheSessionIdAndKeepsValues() async throws {
        let f = try LoginFixture()
        let visit = await f.run(makeContext(.get, "/visits"))
        let before = try #require(setCookie(visit, "porter_session")?.value)
        #expect(bodyText(visit).contains("<dd id=\"visits\">1</dd>"))
        let login = await f.login(user: "alice", password: "open sesame", returnURL: "/visits", cookies: "porter_session=\(before)")
        let after = try #require(setCookie(login, "porter_session")?.value)
        let auth = try #require(setCookie(login, "porter_auth")?.value)
        #expect(after != before, "a new session id after login (no fixation)")
        #expect(try await f.sessions.read(id: before) == nil, "the old id is deleted")
        let again = await f.run(makeContext(.get, "/visits", headers: ["Cookie": "porter_session=\(after); porter_auth=\(auth)"]))
        let html = bodyText(again)
        #expect(html.contains("<dd id=\"visits\">2</dd>"), "values moved to the new id")
        #expect(html.contains("<dd id=\"user\">alice</dd>"))
        #expect(html.contains("<dd id=\"session\">\(after.prefix(8))…</dd>"))
        #expect(html.contains("<dd id=\"total\">2</dd>"))
    }

    @Test func logoutClearsCookieAbandonsSessionAndRevokesTheTicket() async throws {
        let f = try LoginFixture()
        let login = await f.login(user: "alice", password: "open sesame", returnURL: nil)
        let auth = try #require(setCookie(login, "porter_auth")?.value)
        let visit = await f.run(makeContext(.get, "/visits", headers: ["Cookie": "porter_auth=\(auth)"]))
        let sid = try #require(setCookie(visit, "porter_session")?.value)
        #expect(bodyText(visit).contains("action=\"/logout\""), "the visits page offers the sign-out form")
        let out = await f.logout(cookies: "porter_auth=\(auth); porter_session=\(sid)", returnURL: "//evil")
        #expect(out.response.status == .seeOther)
        #expect(out.response.headers["Location"] == "/")
        #expect(setCookie(out, "porter_auth")?.maxAge == 0)
        #expect(setCookie(out, "porter_session")?.maxAge == 0)
        #expect(try await f.sessions.read(id: sid) == nil)
        let replay = await f.run(makeContext(.get, "/visits", headers: ["Cookie": "porter_auth=\(auth)"]))
        #expect(bodyText(replay).contains("<dd id=\"user\">anonymous</dd>"), "the old cookie no longer works after logout")
    }

    @Test func logoutAndLoginRefuseForgedPosts() async throws {
        let f = try LoginFixture()
        let login = await f.login(user: "alice", password: "open sesame", returnURL: nil)
        let auth = try #require(setCookie(login, "porter_auth")?.value)
        let tokens = await f.form(cookies: "porter_auth=\(auth)")
        let logoutToken = try #require(tokens.logout)
        let cookies = "porter_auth=\(auth); porter_csrf=\(tokens.cookie)"
        #expect(await f.run(makeContext(.get, "/logout", headers: ["Cookie": cookies])).response.status == .methodNotAllowed)
        #expect(await f.run(makeFormPost("/logout", [], cookies: cookies)).response.status == .forbidden, "no token")
        #expect(await f.run(makeFormPost("/logout", [("csrf", tokens.login)], cookies: cookies)).response.status == .forbidden,
                "a login token is not a logout token")
        #expect(await f.run(makeFormPost("/logout", [("csrf", logoutToken)], cookies: "porter_auth=\(auth)")).response.status == .forbidden,
                "the token without its cookie")
        let crossSite = makeFormPost("/logout", [("csrf", logoutToken)], cookies: cookies)
        crossSite.request.headers["Origin"] = "https://evil.example"
        crossSite.request.headers["Host"] = "porter.example"
        #expect(await f.run(crossSite).response.status == .forbidden, "a cross-site Origin")
        let fetchSite = makeFormPost("/logout", [("csrf", logoutToken)], cookies: cookies)
        fetchSite.request.headers["Sec-Fetch-Site"] = "cross-site"
        #expect(await f.run(fetchSite).response.status == .forbidden, "Sec-Fetch-Site: cross-site")
        let stillIn = await f.run(makeContext(.get, "/visits", headers: ["Cookie": "porter_auth=\(auth)"]))
        #expect(bodyText(stillIn).contains("<dd id=\"user\">alice</dd>"), "none of the forged posts signed alice out")
        let sameOrigin = makeFormPost("/logout", [("csrf", logoutToken)], cookies: cookies)
        sameOrigin.request.headers["Origin"] = "https://porter.example"
        sameOrigin.request.headers["Host"] = "porter.example"
        #expect(await f.run(sameOrigin).response.status == .seeOther)
        let noToken = await f.run(makeFormPost("/login", [("user", "alice"), ("password", "open sesame")], cookies: "porter_csrf=\(tokens.cookie)"))
        #expect(noToken.response.status == .forbidden && setCookie(noToken, "porter_auth") == nil)
    }

    @Test func wrongPasswordsBackOffWith429WithoutRunningTheKDF() async throws {
        let kdf = KDFExecutor()
        let f = try LoginFixture(throttle: LoginThrottle(maxFailures: 3, maxAddressFailures: 100), kdf: kdf)
        for _ in 0..<3 {
            #expect(await f.login(user: "alice", password: "nope", returnURL: nil).response.status == .ok)
        }
        let ran = kdf.statistics.completed.load(ordering: .relaxed)
        let refused = await f.login(user: "alice", password: "open sesame", returnURL: nil)
        #expect(refused.response.status == .tooManyRequests)
        #expect(Int(refused.response.headers["Retry-After"] ?? "") ?? 0 >= 1)
        #expect(kdf.statistics.completed.load(ordering: .relaxed) == ran, "a refused attempt never reaches the KDF")
        #expect(setCookie(refused, "porter_auth") == nil)
    }

    @Test func aFullKDFQueueAnswers503WithRetryAfter() async throws {
        let gate = DispatchSemaphore(value: 0)
        let kdf = KDFExecutor(threads: 1, queueLimit: 0)
        let blocker = Task { try await kdf.run { gate.wait() } }
        while kdf.statistics.running.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(5)) }
        let f = try LoginFixture(kdf: kdf)
        let busy = await f.login(user: "alice", password: "open sesame", returnURL: nil)
        #expect(busy.response.status == .serviceUnavailable)
        #expect(busy.response.headers["Retry-After"] == "1")
        gate.signal()
        try await blocker.value
        #expect(await f.login(user: "alice", password: "open sesame", returnURL: nil).response.status == .seeOther)
        kdf.shutdown()
    }

    @Test func loginRefusesOtherMethodsAndHugeBodies() async throws {
        let f = try LoginFixture()
        let put = await f.run(makeContext(.put, "/login"))
        #expect(put.response.status == .methodNotAllowed)
        let huge = await f.run(makeFormPost("/login", [("user", "alice"), ("password", String(repeating: "x", count: 20_000))]))
        #expect(huge.response.status == .payloadTooLarge)
        let json = await f.run(makeContext(.post, "/login", headers: ["Content-Type": "application/json"], body: "{}"))
        #expect(json.response.status == .unsupportedMediaType)
    }

    @Test func visitsPageEscapesTheUserName() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "visits", path: "/visits", handler: VisitsHandler())
        let pipeline = Pipeline(registry: registry, modules: [
            AuthenticationModule(trustRemoteUser: true), SessionModule(store: MemorySessionStore()),
        ])
        let ctx = makeContext(.get, "/visits", parameters: ["REMOTE_USER": "<b>x</b>&", M: "x"])
        await pipeline.run(ctx)
        #expect(bodyText(ctx).contains("&lt;b&gt;x&lt;/b&gt;&amp;"))
        #expect(!bodyText(ctx).contains("<b>x"))
    }
}

@Suite("Application state")
struct ApplicationStateTests {
    @Test func thousandConcurrentUpdatesReachExactlyAThousand() async {
        let app = ApplicationState()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<1000 {
                group.addTask {
                    app.update { dict in
                        let n = (dict["hits"] as? Int) ?? 0
                        dict["hits"] = n + 1
                    }
                }
            }
        }
        #expect(app.value("hits", as: Int.self) == 1000)
    }

    @Test func incrementAndPairedUpdatesStayConsistentAcrossThreads() async {
        let app = ApplicationState()
        // Two keys always updated together: a reader inside `update` must never see them differ.
        await withTaskGroup(of: Bool.self) { group in
            for i in 0..<500 {
                group.addTask {
                    if i % 2 == 0 {
                        app.update { d in
                            let n = (d["a"] as? Int) ?? 0
                            d["a"] = n + 1
                            d["b"] = n + 1
                        }
                        app.increment("c")
                        return true
                    }
                    return app.update { d in (d["a"] as? Int) == (d["b"] as? Int) }
                }
            }
            for await consistent in group { #expect(consistent) }
        }
        #expect(app.value("a", as: Int.self) == 250)
        #expect(app.value("c", as: Int.self) == 250)
        #expect(app.keys == ["a", "b", "c"])
        app["a"] = nil
        #expect(app.keys == ["b", "c"])
    }

    @Test func demoTotalIsSharedByAllSessions() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "visits", path: "/visits", handler: VisitsHandler())
        let pipeline = Pipeline(registry: registry, modules: [SessionModule(store: MemorySessionStore())])
        let app = ApplicationState()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask { await pipeline.run(makeContext(.get, "/visits", application: app)) }
            }
        }
        #expect(app.value(VisitsHandler.totalKey, as: Int.self) == 50)
    }
}

/// User names with control characters (attack pass 31b: SQLite compared bound text up to a NUL, so `bob\0x` with bob's
/// password signed in as a name of its own, outside bob's throttle counts and quotas).
@Suite struct UserNameTests {
    @Test("valid names", arguments: [("alice", true), ("Ålice Ünicode", true), ("a@b.example", true), (String(repeating: "x", count: 256), true),
                                     ("", false), ("alice\u{0}x", false), ("alice\n", false), ("a\tb", false), ("a\u{7F}", false),
                                     ("a\u{85}", false), (String(repeating: "x", count: 257), false),
                                     ("nimda\u{202E}", false), ("a\u{2066}b", false), ("a\u{2028}", false)])
    func validity(_ name: String, _ valid: Bool) {
        #expect(UserName.isValid(name) == valid, "\(name.debugDescription)")
    }

    @Test("a NUL or newline after a real name finds no user: no login, no generation, no roles, no new user")
    func storeRefusesControlCharacters() async throws {
        let users = try LoginFixture.makeUsers()
        #expect(try users.verify(user: "alice", password: "open sesame"))
        for spelling in ["alice\u{0}", "alice\u{0}anything", "alice\u{0}\u{0}", "alice\n"] {
            #expect(try !users.verify(user: spelling, password: "open sesame"), "\(spelling.debugDescription)")
            #expect(try users.generation(of: spelling) == nil && users.roles(for: spelling).isEmpty)
        }
        #expect(throws: ConfigurationError.self) { try users.setPassword("x", for: "mallory\u{0}alice") }
    }

    @Test("the login form refuses such a name without running the KDF or counting it")
    func loginRefuses() async throws {
        let kdf = KDFExecutor()
        let throttle = LoginThrottle(maxFailures: 1, maxAddressFailures: 1)
        let f = try LoginFixture(throttle: throttle, kdf: kdf)
        let ctx = await f.login(user: "alice\u{0}anything", password: "open sesame", returnURL: nil)
        #expect(ctx.response.status == .ok && ctx.response.cookies.allSatisfy { $0.name != "porter_auth" })
        #expect(throttle.trackedKeys == 0)
        let real = await f.login(user: "alice", password: "open sesame", returnURL: nil)
        #expect(real.response.status == .seeOther, "the real name still signs in (nothing was counted)")
    }

    @Test("logout refuses bodies over 16 KB before reading the form")
    func logoutBodyLimit() async throws {
        let f = try LoginFixture()
        let ctx = makeContext(.post, "/logout", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                              body: String(repeating: "a=1&", count: 5000))
        #expect(await f.run(ctx).response.status == .payloadTooLarge)
    }
}

/// Device cookies (attack pass 31b, finding B: clients elsewhere could keep an account locked for everyone): a browser
/// that has signed in as a user is not held by that user's count over all clients.
@Suite struct DeviceCookieTests {
    @Test("signed for one user, unexpired, untampered; never a login ticket")
    func vouching() throws {
        let clock = ManualClock()
        let auth = try CookieAuthentication(keys: [keyA], clock: clock.wallClock)
        let device = DeviceCookie(authentication: auth)
        let cookie = device.issue(for: "alice")
        #expect(cookie.name == "porter_device" && cookie.httpOnly && cookie.sameSite == .lax && cookie.maxAge == 180 * 24 * 3600)
        func request(_ value: String) -> HTTPRequest { HTTPRequest(method: .post, uri: "/login", headers: ["Cookie": "porter_device=\(value)"]) }
        #expect(device.vouches(for: "alice", in: request(cookie.value)))
        #expect(!device.vouches(for: "bob", in: request(cookie.value)))
        #expect(!device.vouches(for: "alice", in: HTTPRequest(method: .post, uri: "/login")))
        var tampered = Array(cookie.value.utf8)
        tampered[tampered.count - 2] = tampered[tampered.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(!device.vouches(for: "alice", in: request(String(decoding: tampered, as: UTF8.self))))
        let otherKey = DeviceCookie(authentication: try CookieAuthentication(keys: [keyB], clock: clock.wallClock))
        #expect(!otherKey.vouches(for: "alice", in: request(cookie.value)))
        #expect(!device.vouches(for: "alice", in: request(auth.issueCookie(for: "alice").value)), "a login ticket is not a device cookie")
        clock.advance(by: .seconds(180 * 24 * 3600 + 1))
        #expect(!device.vouches(for: "alice", in: request(cookie.value)), "expired")
    }

    @Test("an account locked by its count over all clients still admits the browser its owner signed in with")
    func lockedAccountAdmitsKnownBrowser() async throws {
        let throttle = LoginThrottle(maxFailures: 0, maxUserFailures: 2, maxAddressFailures: 0)
        let f = try LoginFixture(throttle: throttle)
        let first = await f.login(user: "alice", password: "open sesame", returnURL: nil)
        #expect(first.response.status == .seeOther)
        let device = try #require(first.response.cookies.first { $0.name == DeviceCookie.name })
        for _ in 0..<2 { #expect(await f.login(user: "alice", password: "guess", returnURL: nil).response.status == .ok) }
        #expect(await f.login(user: "alice", password: "open sesame", returnURL: nil).response.status == .tooManyRequests,
                "a browser without the cookie is held")
        let known = await f.login(user: "alice", password: "open sesame", returnURL: nil, cookies: "porter_device=\(device.value)")
        #expect(known.response.status == .seeOther, "the owner's browser signs in")
        let forgedForOther = DeviceCookie(authentication: try CookieAuthentication(keys: [keyA])).issue(for: "bob")
        #expect(await f.login(user: "alice", password: "open sesame", returnURL: nil, cookies: "porter_device=\(forgedForOther.value)")
            .response.status == .tooManyRequests, "another user's device cookie does not help")
    }

    @Test("the throttle: a trusted device skips only the count over all clients")
    func throttleKeys() {
        let clock = ManualClock()
        let throttle = LoginThrottle(maxFailures: 3, maxUserFailures: 4, maxAddressFailures: 100, clock: clock.wallClock)
        for client in 0..<2 { for _ in 0..<2 { LoginThrottleTests.attempt(throttle, "demo", from: "10.0.0.\(client)") } }
        #expect(LoginThrottleTests.attempt(throttle, "demo", from: "10.0.0.9") == 30)
        guard case .success(let attempt) = throttle.begin(user: "demo", address: "10.0.0.9", trustedDevice: true) else {
            Issue.record("a trusted device is held by the count over all clients")
            return
        }
        throttle.finish(attempt, succeeded: false)
        for _ in 0..<2 { _ = throttle.begin(user: "demo", address: "10.0.0.9", trustedDevice: true).map { throttle.finish($0, succeeded: false) } }
        if case .success = throttle.begin(user: "demo", address: "10.0.0.9", trustedDevice: true) {
            Issue.record("its own per-client count (3) still applies")
        }
    }
}
