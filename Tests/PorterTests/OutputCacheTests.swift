import Porter
import PorterTesting
import Synchronization
import Testing

/// A clock the test moves by hand (seconds since 1970).
final class ManualClock: Sendable {
    private let value = Mutex<Double>(1_764_000_000)
    var now: Double { value.withLock { $0 } }
    func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
    var read: @Sendable () -> Double { { self.now } }
}

/// `OutputCacheModule` through a pipeline: what is stored, what is replayed, under which key, for how long.
@Suite struct OutputCacheTests {
    /// A pipeline whose `/r` handler counts its runs and answers `run N` (plus what the request asks for).
    struct Fixture {
        let client: PipelineTestClient
        let clock = ManualClock()
        let runs = Counter()
        let cache: OutputCache

        init(policy: OutputCachePolicy?, maxBytes: Int = 1 << 20, signIn: Bool = false,
             handler: (@Sendable (HTTPContext) -> Void)? = nil) throws {
            let clock = clock
            let cache = OutputCache(maxBytes: maxBytes, now: clock.read)
            self.cache = cache
            let runs = runs
            var registry = HandlerRegistry()
            try registry.add(name: "r", verbs: "GET,HEAD,POST", path: "*", source: .instance(.sync(ClosureHandler { ctx in
                let n = runs.value.add(1, ordering: .relaxed).newValue
                ctx.response.contentType = "text/plain"
                ctx.response.write("run \(n)")
                if let status = ctx.request.query["status"].flatMap(Int.init) { ctx.response.status = HTTPStatus(code: status) }
                if ctx.request.query["cookie"] != nil { ctx.response.cookies.append(SetCookie(name: "c", value: "v")) }
                if let control = ctx.request.query["cc"] { ctx.response.headers["Cache-Control"] = control }
                handler?(ctx)
            })), outputCache: policy)
            let signInModule = ClosureModule(name: "signin") { events in
                events.on(.authenticateRequest) { ctx in
                    if signIn || ctx.request.headers["X-User"] != nil {
                        ctx.user = Principal(name: ctx.request.headers["X-User"] ?? "alice", authenticationType: "test")
                    }
                }
            }
            client = PipelineTestClient(registry: registry, modules: [signInModule, OutputCacheModule(cache: cache, customKeys: [
                "lang": { ctx in String((ctx.request.headers["Accept-Language"] ?? "").prefix(2)) },
            ])])
        }

        var handlerRuns: Int { runs.value.load(ordering: .relaxed) }

        func get(_ uri: String, _ method: HTTPMethod = .get, headers: HTTPHeaders = [:]) async -> HTTPResponse {
            await client.execute(method, uri, headers: headers).response
        }
    }

    /// One case: two requests (the second after `wait` seconds) and whether the second was replayed.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let policy: OutputCachePolicy?
        let first: (String, HTTPHeaders)
        let second: (String, HTTPHeaders)
        let wait: Double
        let replayed: Bool
        var testDescription: String { name }

        init(_ name: String, _ policy: OutputCachePolicy?, _ first: String, _ second: String, wait: Double = 1, replayed: Bool,
             firstHeaders: HTTPHeaders = [:], secondHeaders: HTTPHeaders = [:]) {
            self.name = name
            self.policy = policy
            self.first = (first, firstHeaders)
            self.second = (second, secondHeaders)
            self.wait = wait
            self.replayed = replayed
        }
    }

    static let five = OutputCachePolicy(duration: 5)
    static let byTZ = OutputCachePolicy(duration: 5, varyByQuery: ["tz"])

    static let cases: [Case] = [
        Case("no policy: never cached", nil, "/r", "/r", replayed: false),
        Case("same URL within the duration", five, "/r", "/r", replayed: true),
        Case("just before expiry", five, "/r", "/r", wait: 4.9, replayed: true),
        Case("at expiry", five, "/r", "/r", wait: 5, replayed: false),
        Case("other path, same route", five, "/r", "/r2", replayed: false),
        Case("unvaried query ignored", five, "/r?a=1", "/r?a=2", replayed: true),
        Case("varied query key differs", byTZ, "/r?tz=UTC", "/r?tz=CET", replayed: false),
        Case("varied query key same, other ignored", byTZ, "/r?tz=UTC&x=1", "/r?x=2&tz=UTC", replayed: true),
        Case("varied key absent vs empty", byTZ, "/r", "/r?tz=", replayed: false),
        Case("vary by every key", OutputCachePolicy(duration: 5, varyByQuery: ["*"]), "/r?a=1&b=2", "/r?b=2&a=1", replayed: true),
        Case("vary by every key differs", OutputCachePolicy(duration: 5, varyByQuery: ["*"]), "/r?a=1", "/r?a=1&b=2", replayed: false),
        Case("vary by header differs", OutputCachePolicy(duration: 5, varyByHeaders: ["Accept-Language"]), "/r", "/r",
             replayed: false, firstHeaders: ["Accept-Language": "de"], secondHeaders: ["Accept-Language": "fr"]),
        Case("vary by header same", OutputCachePolicy(duration: 5, varyByHeaders: ["accept-language"]), "/r", "/r",
             replayed: true, firstHeaders: ["Accept-Language": "de"], secondHeaders: ["Accept-Language": "de"]),
        Case("vary by custom key same", OutputCachePolicy(duration: 5, varyByCustom: "lang"), "/r", "/r",
             replayed: true, firstHeaders: ["Accept-Language": "de-CH"], secondHeaders: ["Accept-Language": "de-AT"]),
        Case("vary by custom key differs", OutputCachePolicy(duration: 5, varyByCustom: "lang"), "/r", "/r",
             replayed: false, firstHeaders: ["Accept-Language": "de"], secondHeaders: ["Accept-Language": "fr"]),
        Case("authenticated request bypasses", five, "/r", "/r", replayed: false,
             firstHeaders: ["X-User": "alice"], secondHeaders: ["X-User": "alice"]),
        Case("anonymous entry not served to a user", five, "/r", "/r", replayed: false, secondHeaders: ["X-User": "alice"]),
        Case("authenticated when asked", OutputCachePolicy(duration: 5, cacheAuthenticated: true), "/r", "/r", replayed: true,
             firstHeaders: ["X-User": "alice"], secondHeaders: ["X-User": "bob"]),
        Case("vary by user: same user", OutputCachePolicy(duration: 5, varyByUser: true), "/r", "/r", replayed: true,
             firstHeaders: ["X-User": "alice"], secondHeaders: ["X-User": "alice"]),
        Case("vary by user: other user", OutputCachePolicy(duration: 5, varyByUser: true), "/r", "/r", replayed: false,
             firstHeaders: ["X-User": "alice"], secondHeaders: ["X-User": "bob"]),
        Case("response setting a cookie", five, "/r?cookie=1", "/r?cookie=1", replayed: false),
        Case("404 not stored", five, "/r?status=404", "/r?status=404", replayed: false),
        Case("404 stored when asked", OutputCachePolicy(duration: 5, statuses: [200, 404]), "/r?status=404", "/r?status=404", replayed: true),
        Case("handler says no-store", five, "/r?cc=no-store", "/r?cc=no-store", replayed: false),
        Case("handler says private", five, "/r?cc=private,%20max-age=9", "/r?cc=private,%20max-age=9", replayed: false),
        Case("handler says No-Cache", five, "/r?cc=public,%20No-Cache", "/r?cc=public,%20No-Cache", replayed: false),
        Case("an extension directive that only contains no-store", five, "/r?cc=x-no-store-ext", "/r?cc=x-no-store-ext", replayed: true),
    ]

    @Test(arguments: cases)
    func policy(_ testCase: Case) async throws {
        let fixture = try Fixture(policy: testCase.policy)
        let first = await fixture.get(testCase.first.0, headers: testCase.first.1)
        #expect(first.bodyText == "run 1")
        fixture.clock.advance(testCase.wait)
        let second = await fixture.get(testCase.second.0, headers: testCase.second.1)
        #expect(second.bodyText == (testCase.replayed ? "run 1" : "run 2"))
        #expect(fixture.handlerRuns == (testCase.replayed ? 1 : 2))
        if testCase.replayed {
            #expect(second.headers["Age"] == String(Int(testCase.wait)))
            #expect(second.status == first.status)
        }
    }

    @Test func storedResponseCarriesEdgeHeaders() async throws {
        let fixture = try Fixture(policy: Self.byTZ)
        let first = await fixture.get("/r?tz=UTC")
        #expect(first.headers["Cache-Control"] == "public, max-age=5")
        #expect(first.headers["X-Accel-Expires"] == "5")
        #expect(first.headers["Expires"] == HTTPDate.rfc1123(Int64(fixture.clock.now) + 5))
        #expect(first.headers["Age"] == "0")
        fixture.clock.advance(3)
        let hit = await fixture.get("/r?tz=UTC")
        #expect(hit.headers["Age"] == "3")
        #expect(hit.headers["X-Accel-Expires"] == "2", "nginx holds it only for the rest of the duration")
        #expect(hit.headers["Expires"] == first.headers["Expires"])
        #expect(hit.headers["Content-Type"] == "text/plain")
    }

    @Test func perUserEntriesArePrivateAndNotForNginx() async throws {
        let fixture = try Fixture(policy: OutputCachePolicy(duration: 5, varyByUser: true))
        let first = await fixture.get("/r", headers: ["X-User": "alice"])
        #expect(first.headers["Cache-Control"] == "private, max-age=5")
        #expect(first.headers["X-Accel-Expires"] == "0")
    }

    @Test func varyByHeaderIsAnnounced() async throws {
        let fixture = try Fixture(policy: OutputCachePolicy(duration: 5, varyByHeaders: ["Accept-Language"]))
        #expect(await fixture.get("/r").headers["Vary"] == "accept-language")
    }

    /// A handler's own `Vary` (e.g. gzip for clients that take it) on a header the policy does not key on: storing it
    /// would hand one client's representation to another, so it is not stored; keyed on that header, it is.
    @Test func aResponseVaryingOnAnUnkeyedHeaderIsNotStored() async throws {
        let varies: @Sendable (HTTPContext) -> Void = { ctx in ctx.response.headers["Vary"] = "Accept-Encoding" }
        let unkeyed = try Fixture(policy: Self.five, handler: varies)
        _ = await unkeyed.get("/r", headers: ["Accept-Encoding": "gzip"])
        #expect(await unkeyed.get("/r").bodyText == "run 2")
        #expect(unkeyed.handlerRuns == 2)
        let keyed = try Fixture(policy: OutputCachePolicy(duration: 5, varyByHeaders: ["Accept-Encoding"]), handler: varies)
        _ = await keyed.get("/r", headers: ["Accept-Encoding": "gzip"])
        #expect(await keyed.get("/r", headers: ["Accept-Encoding": "gzip"]).bodyText == "run 1")
        #expect(await keyed.get("/r").bodyText == "run 2")
    }

    @Test func headIsServedFromTheGetEntryAndNeverStores() async throws {
        let fixture = try Fixture(policy: Self.five)
        _ = await fixture.get("/r", .head)
        _ = await fixture.get("/r", .head)
        #expect(fixture.handlerRuns == 2, "a HEAD response (no body) is never stored")
        _ = await fixture.get("/r")
        let head = await fixture.get("/r", .head)
        #expect(fixture.handlerRuns == 3)
        #expect(head.bodyText == "run 3", "the transport drops the body of a HEAD response, keeping its Content-Length")
    }

    @Test func postIsNeverCachedNorAnsweredFromTheCache() async throws {
        let fixture = try Fixture(policy: Self.five)
        _ = await fixture.get("/r")
        let post = await fixture.get("/r", .post)
        #expect(post.bodyText == "run 2")
    }

    @Test func handlerPolicyAtRunTime() async throws {
        // No route policy: the handler turns caching on for ?tz= (ASP.NET's Response.Cache).
        let fixture = try Fixture(policy: nil) { ctx in ctx.response.cache = OutputCachePolicy(duration: 2, varyByQuery: ["tz"]) }
        _ = await fixture.get("/r?tz=A")
        #expect(await fixture.get("/r?tz=A").bodyText == "run 1")
        #expect(await fixture.get("/r?tz=B").bodyText == "run 2", "the stored vary rule keys the lookup")
        fixture.clock.advance(2)
        #expect(await fixture.get("/r?tz=A").bodyText == "run 3")
    }

    @Test func handlerErrorIsNotStored() async throws {
        let fixture = try Fixture(policy: OutputCachePolicy(duration: 5, statuses: [200, 500])) { ctx in
            if ctx.request.query["fail"] != nil { ctx.addError(HTTPError(.internalServerError)) }
        }
        _ = await fixture.get("/r?fail=1")
        #expect(await fixture.get("/r?fail=1").bodyText != "run 1")
    }

    @Test func evictionByPathAndPrefix() async throws {
        let fixture = try Fixture(policy: Self.byTZ)
        _ = await fixture.get("/r?tz=A")
        _ = await fixture.get("/r?tz=B")
        _ = await fixture.get("/r2")
        #expect(fixture.cache.usage.entries == 3)
        fixture.cache.remove(path: "/r")
        #expect(fixture.cache.usage.entries == 1)
        #expect(await fixture.get("/r?tz=A").bodyText == "run 4")
        #expect(await fixture.get("/r2").bodyText == "run 3", "other paths stay")
        fixture.cache.remove(prefix: "/")
        #expect(fixture.cache.usage.entries == 0)
        #expect(fixture.cache.usage.bytes == 0)
    }

    @Test func memoryIsBoundedLeastRecentlyUsedFirst() async throws {
        // Each entry is its body, headers and 64 bytes (~300 bytes here); 2000 bytes hold a handful.
        let fixture = try Fixture(policy: OutputCachePolicy(duration: 60, varyByQuery: ["k"]), maxBytes: 2000) { ctx in
            ctx.response.write(String(repeating: "x", count: 100))
        }
        _ = await fixture.get("/r?k=keep")
        for i in 0..<50 {
            _ = await fixture.get("/r?k=\(i)")
            _ = await fixture.get("/r?k=keep")   // used again: stays
            #expect(fixture.cache.usage.bytes <= 2000)
        }
        let runsBefore = fixture.handlerRuns
        _ = await fixture.get("/r?k=keep")
        #expect(fixture.handlerRuns == runsBefore, "the recently used entry survived")
        _ = await fixture.get("/r?k=0")
        #expect(fixture.handlerRuns == runsBefore + 1, "the oldest entries were evicted")
        #expect(fixture.cache.usage.entries > 1 && fixture.cache.usage.entries < 10)
    }

    @Test func pathsAreForgottenWithTheirEntries() async throws {
        // A route over many paths: each path's vary rule lives only as long as one of its entries.
        let fixture = try Fixture(policy: Self.five, maxBytes: 2000)
        for i in 0..<200 { _ = await fixture.get("/r\(i)") }
        let usage = fixture.cache.usage
        #expect(usage.entries < 20 && usage.paths == usage.entries)
        fixture.cache.remove(prefix: "/")
        #expect(fixture.cache.usage.paths == 0)
    }

    @Test func anEntryBiggerThanTheLimitIsNotStored() async throws {
        let fixture = try Fixture(policy: Self.five, maxBytes: 500) { ctx in
            ctx.response.write([UInt8](repeating: 0, count: 10_000))
        }
        _ = await fixture.get("/r")
        _ = await fixture.get("/r")
        #expect(fixture.handlerRuns == 2)
        #expect(fixture.cache.usage.bytes == 0)
    }

    @Test(arguments: [
        (ConfigValue.table(["duration": .int(0)]), "duration must be"),
        (.table(["duration": .int(5), "vary_by_query": .table([:])]), "must be a list"),
        (.table(["duration": .int(5), "statuses": .array([.int(999)])]), "statuses"),
        (.table(["duraton": .int(5), "duration": .int(5)]), "unknown option"),
        (.string("5s"), "must be a table"),
    ])
    func badConfiguration(_ value: ConfigValue, _ message: String) throws {
        let options = Options(["output_cache": value], origin: "test")
        #expect {
            _ = try OutputCachePolicy.parse(options)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func goodConfiguration() throws {
        let options = Options(["output_cache": .table(["duration": .int(5), "vary_by_query": .array([.string("tz")]),
                                                       "statuses": .array([.int(200), .int(404)])])], origin: "test")
        let policy = try OutputCachePolicy.parse(options)
        #expect(policy == OutputCachePolicy(duration: 5, varyByQuery: ["tz"], statuses: [200, 404]))
        #expect(try OutputCachePolicy.parse(Options([:], origin: "test")) == nil)
    }
}

/// A run counter the handler closure shares with the test.
final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
