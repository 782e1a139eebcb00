import Porter
import Testing
@testable import PorterState

/// The policy under test, written as it would be in porter.toml.
let ruleOptions = Options(["rules": .array([
    .table(["path": .string("/admin/"), "action": .string("allow"), "roles": .array([.string("admin")])]),
    .table(["path": .string("/admin/"), "action": .string("deny"), "users": .string("*")]),
    .table(["path": .string("/admin/public"), "allow_users": .string("*")]),
    .table(["path": .string("/members"), "deny_users": .string("?")]),
    .table(["path": .string("/members/bob-free"), "deny_users": .array([.string("bob")])]),
    .table(["path": .string("/api"), "action": .string("allow"), "users": .string("*"), "verbs": .array([.string("GET")])]),
    .table(["path": .string("/api"), "action": .string("deny"), "users": .string("?")]),
    .table(["path": .string("/api"), "allow_roles": .array([.string("writer")]), "deny_users": .string("*")]),
])])

/// A pipeline: optional fixed user, the authorization module, and a handler answering 200 everywhere.
func authzPipeline(_ module: AuthorizationModule, user: Principal) throws -> Pipeline {
    var registry = HandlerRegistry()
    try registry.add(name: "all", path: "*", handler: ClosureHandler { $0.response.write("ok") })
    let identity = ClosureModule(name: "identity") { events in
        events.on(.authenticateRequest) { ctx in
            ctx.user = user
            if ctx.request.query["skip"] != nil { ctx.skipAuthorization = true }
        }
    }
    return Pipeline(registry: registry, modules: [identity, module])
}

@Suite("Authorization")
struct AuthorizationTests {
    /// (method, path, user, roles) → status; user "" = anonymous.
    @Test(arguments: [
        ("GET", "/", "", [], 200),
        ("GET", "/admin", "", [], 401),
        ("GET", "/admin/", "", [], 401),
        ("GET", "/admin/users", "bob", [], 403),
        ("GET", "/admin/users", "alice", ["admin"], 200),
        ("GET", "/ADMIN/users", "", [], 401),
        ("GET", "//admin//users", "", [], 401),
        ("GET", "/administrator", "", [], 200),
        ("GET", "/admin/public/x", "", [], 200),
        ("GET", "/members/page", "", [], 401),
        ("GET", "/members/page", "bob", [], 200),
        ("GET", "/members/bob-free/x", "bob", [], 403),
        ("GET", "/members/bob-free/x", "BOB", [], 403),
        ("GET", "/members/bob-free/x", "carol", [], 200),
        ("GET", "/members/bob-free/x", "", [], 401),
        ("GET", "/api/items", "", [], 200),
        ("POST", "/api/items", "", [], 401),
        ("POST", "/api/items", "bob", [], 403),
        ("POST", "/api/items", "wendy", ["writer"], 200),
        // A combining mark, ZWJ or variation selector after a slash: nginx still splits there (bytes), so must the rules.
        ("GET", "/admin/\u{301}/users", "", [], 401),
        ("GET", "/admin\u{301}/users", "", [], 200),  // not under /admin/ for nginx either: another directory
        ("GET", "/members/\u{200D}/../page", "", [], 401),
    ] as [(String, String, String, [String], Int)])
    func ruleTable(method: String, path: String, user: String, roles: [String], status: Int) async throws {
        let principal = user.isEmpty ? Principal.anonymous : Principal(name: user, authenticationType: "test", roles: Set(roles))
        let pipeline = try authzPipeline(try AuthorizationModule(options: ruleOptions), user: principal)
        let ctx = makeContext(HTTPMethod(rawValue: method), path)
        await pipeline.run(ctx)
        #expect(ctx.response.status.code == status, "\(method) \(path) as \(user.isEmpty ? "anonymous" : user)")
        #expect(ctx.response.headers["WWW-Authenticate"] == nil, "no challenge unless configured")
    }

    /// `local_only` makes a rule apply to loopback requests only (the ops pages' model, in URL authorization).
    @Test(arguments: [
        ("127.0.0.1", "", [], 200), ("::1", "", [], 200), ("203.0.113.5", "", [], 401),
        ("203.0.113.5", "bob", [], 403), ("203.0.113.5", "olga", ["ops"], 200),
    ] as [(String, String, [String], Int)])
    func localOnlyRuleCondition(remote: String, user: String, roles: [String], status: Int) async throws {
        let options = Options(["rules": .array([
            .table(["path": .string("/ops"), "allow_users": .string("*"), "local_only": .bool(true)]),
            .table(["path": .string("/ops"), "allow_roles": .string("ops"), "deny_users": .string("*")]),
        ])])
        let principal = user.isEmpty ? Principal.anonymous : Principal(name: user, authenticationType: "test", roles: Set(roles))
        let pipeline = try authzPipeline(try AuthorizationModule(options: options), user: principal)
        let ctx = makeContext(.get, "/ops/status")
        ctx.request.remoteAddress = remote
        await pipeline.run(ctx)
        #expect(ctx.response.status.code == status, "\(remote) as \(user.isEmpty ? "anonymous" : user)")
    }

    @Test(arguments: [("/admin/users", "", 401), ("/admin/users", "bob", 403), ("/admin/users", "alice", 204), ("/public/x", "", 204),
                      ("/x/../admin/users", "", 401), ("/admin/./users", "", 401), ("/public/../admin/x", "bob", 403),
                      ("/admin/users?skip=1", "", 401),
                      // nginx resolves `..` at every "/" byte: /admin/%CC%81/../x is /admin/x to it (it was /x here).
                      ("/admin/%CC%81/../users", "", 401), ("/admin/%E2%80%8D/../users", "", 401),
                      ("/admin/%EF%B8%8F/../users", "", 401), ("/admin/\u{301}/../users", "", 401),
                      ("/public/%CC%81/../../admin/x", "", 401)])
    func authorizeOnlyModeAnswersTheStaticFileCheck(path: String, user: String, status: Int) async throws {
        var options = ruleOptions
        options.values["login_url"] = .string("/login")
        let principal: Principal = user.isEmpty ? .anonymous : Principal(name: user, authenticationType: "test", roles: user == "alice" ? ["admin"] : [])
        let pipeline = try authzPipeline(try AuthorizationModule(options: options), user: principal)
        let ctx = makeContext(.get, path, parameters: ["PORTER_AUTHORIZE_ONLY": "1"])
        await pipeline.run(ctx)
        #expect(ctx.response.status.code == status, "\(path) as \(user)")
        #expect(bodyText(ctx).isEmpty, "the handler never ran")
        if status == 401 { #expect(ctx.response.headers["X-Porter-Login"]?.hasPrefix("/login?returnUrl=%2F") == true) }
    }

    @Test func skipAuthorizationBypassesTheRules() async throws {
        let pipeline = try authzPipeline(try AuthorizationModule(options: ruleOptions), user: .anonymous)
        let ctx = makeContext(.get, "/admin/users?skip=1")
        await pipeline.run(ctx)
        #expect(ctx.response.status == .ok)
    }

    @Test func challengeHeaderWhenConfigured() async throws {
        var options = ruleOptions
        options.values["www_authenticate"] = .string(#"Basic realm="porter""#)
        let pipeline = try authzPipeline(try AuthorizationModule(options: options), user: .anonymous)
        let ctx = makeContext(.get, "/admin")
        await pipeline.run(ctx)
        #expect(ctx.response.status == .unauthorized)
        #expect(ctx.response.headers["WWW-Authenticate"] == #"Basic realm="porter""#)
    }

    @Test func formsStyleRedirectToLoginForAnonymousUsers() async throws {
        var options = ruleOptions
        options.values["login_url"] = .string("/login")
        options.values["rules"] = .array([.table(["path": .string("/"), "deny_users": .string("?")])])
        let anonymous = try authzPipeline(try AuthorizationModule(options: options), user: .anonymous)
        let ctx = makeContext(.get, "/members/page?x=1")
        await anonymous.run(ctx)
        #expect(ctx.response.status == .found)
        #expect(ctx.response.headers["Location"] == "/login?returnUrl=%2Fmembers%2Fpage%3Fx%3D1")
        let login = makeContext(.get, "/login")
        await anonymous.run(login)
        #expect(login.response.status == .ok, "the login page itself is always reachable")
        let known = try authzPipeline(try AuthorizationModule(options: Options(["rules": .array([
            .table(["path": .string("/"), "deny_users": .string("bob")])]), "login_url": .string("/login")])),
                                      user: Principal(name: "bob", authenticationType: "cookie"))
        let denied = makeContext(.get, "/x")
        await known.run(denied)
        #expect(denied.response.status == .forbidden, "authenticated users are not sent to the login page")
    }

    @Test(arguments: [
        ["rules": ConfigValue.string("nope")],
        ["rules": .array([.string("x")])],
        ["rules": .array([.table(["action": .string("allow"), "users": .string("*")])])],
        ["rules": .array([.table(["path": .string("/a"), "action": .string("permit"), "users": .string("*")])])],
        ["rules": .array([.table(["path": .string("/a"), "action": .string("allow")])])],
        ["rules": .array([.table(["path": .string("/a"), "alow_users": .string("*")])])],
        ["rules": .array([.table(["path": .string("/a"), "allow_users": .string("*"), "local_only": .string("maybe")])])],
        ["login_url": .string("https://evil.example/login")],
    ] as [[String: ConfigValue]])
    func badRuleConfigurationIsExplained(values: [String: ConfigValue]) {
        #expect(throws: ConfigurationError.self) { try AuthorizationModule(options: Options(values)) }
    }
}
