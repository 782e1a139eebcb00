import Porter
import PorterTesting
import Synchronization
import Testing

@Suite("Registry: path patterns, verbs, first match, reuse")
struct RegistryTests {
    static let matching: [(pattern: String, path: String, matches: Bool)] = [
        ("*", "/anything/at/all", true),
        ("*.rss", "/news.rss", true),
        ("*.rss", "/feeds/deep/news.rss", true),
        ("*.rss", "/NEWS.RSS", true),
        ("*.rss", "/news.rss.bak", false),
        ("*.rss", "/newsrss", false),
        ("*.rss", "/.rss", false),
        ("*.rss", "/feeds/.rss", false),
        ("*.rss", "/news.xrss", false),
        ("/feeds/*.rss", "/feeds/news.rss", true),
        ("/feeds/*.rss", "/feeds/a/b.RSS", true),
        ("/feeds/*.rss", "/other/news.rss", false),
        ("/feeds/*.rss", "/Feeds/news.rss", false),
        ("/images/*", "/images/a.jpg", true),
        ("/images/*", "/images/", true),
        ("/images/*", "/images", false),
        ("/images/*", "/imagesX/a.jpg", false),
        ("*.rss", "/caf\u{E9}.rss", true),
        ("*.rss", "/a.rs\u{15B}", false),
        ("*.rss", "/x.rs", false),
        ("*.rss", "rss", false),
        ("*.rss", "/a.RsS", true),
        ("/hello", "/hello", true),
        ("/hello", "/hello/", false),
        ("/hello", "/Hello", false),
        ("/hello", "/hello.txt", false),
        // Bytes, as nginx compares them: "/" followed by a combining mark (U+0301), a ZWJ or a variation selector is one
        // Swift Character that is not "/", so String.hasPrefix said no and the request fell through to `*.ext` routes.
        ("/admin/*", "/admin/\u{301}/x.hello", true),
        ("/admin/*", "/admin/\u{200D}", true),
        ("/admin/*.hello", "/admin/\u{FE0F}/x.hello", true),
        ("/caf\u{E9}", "/cafe\u{301}", false),  // canonically equivalent, different bytes: nginx's `= /café` would not match
        ("/caf\u{E9}", "/caf\u{E9}", true),
    ]

    @Test("pattern matching table", arguments: matching)
    func patterns(_ row: (pattern: String, path: String, matches: Bool)) throws {
        #expect(try PathPattern(row.pattern).matches(row.path) == row.matches, "\(row.pattern) ~ \(row.path)")
    }

    @Test("invalid patterns are refused", arguments: ["", "rss", "*.", "*.r s", "a*b", "/a/*b", "/a/*.x*", "*/x", "/x y"])
    func invalidPatterns(_ text: String) {
        #expect(throws: PatternError.self) { try PathPattern(text) }
    }

    static let verbs: [(verbs: String, method: String, allowed: Bool)] = [
        ("*", "DELETE", true), ("GET", "GET", true), ("GET", "HEAD", true), ("GET", "POST", false),
        ("GET, POST", "POST", true), ("get", "GET", false), ("POST", "HEAD", false), ("HEAD", "HEAD", true),
    ]

    @Test("verb lists: comma separated, case-sensitive, GET implies HEAD", arguments: verbs)
    func verbSets(_ row: (verbs: String, method: String, allowed: Bool)) {
        #expect(VerbSet(row.verbs).contains(HTTPMethod(rawValue: row.method)) == row.allowed)
    }

    static let bodiless: [(verbs: String, takesNoBody: Bool)] = [
        ("*", false), ("", false), ("GET", true), ("GET,HEAD", true), ("DELETE, OPTIONS", true), ("GET,POST", false),
        ("PUT", false), ("get", false), (",", false),
    ]

    @Test("verb lists of bodiless verbs only (GET, HEAD, DELETE, OPTIONS) take no body", arguments: bodiless)
    func takesNoBody(_ row: (verbs: String, takesNoBody: Bool)) {
        #expect(VerbSet(row.verbs).takesNoBody == row.takesNoBody)
    }

    @Test("first match wins; a later entry for the same path serves other verbs")
    func firstMatch() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "special", verbs: "GET", path: "/feeds/special.rss", handler: ClosureHandler { $0.response.write("special") })
        try registry.add(name: "rss", verbs: "GET", path: "*.rss", handler: ClosureHandler { $0.response.write("rss") })
        try registry.add(name: "post-rss", verbs: "POST", path: "*.rss", handler: ClosureHandler { $0.response.write("post") })
        try registry.add(name: "all", path: "*", handler: ClosureHandler { $0.response.write("all") })
        let client = PipelineTestClient(registry: registry)
        #expect(await client.execute(.get, "/feeds/special.rss").response.bodyText == "special")
        #expect(await client.execute(.get, "/feeds/other.rss").response.bodyText == "rss")
        #expect(await client.execute(.post, "/feeds/other.rss").response.bodyText == "post")
        #expect(await client.execute(.get, "/x.txt").response.bodyText == "all")
        #expect(await client.execute(.delete, "/x.rss").response.bodyText == "all")
    }

    @Test("a reusable handler is built once and shared; a non-reusable one is built per request")
    func reuse() async throws {
        let built = Atomic<Int>(0)
        struct Reusable: HTTPHandler { func processRequest(_ context: HTTPContext) throws {} }
        final class PerRequest: HTTPHandler, @unchecked Sendable {
            var seen = 0
            var isReusable: Bool { false }
            func processRequest(_ context: HTTPContext) throws {
                seen += 1
                context.response.write("\(seen)")
            }
        }
        var registry = HandlerRegistry()
        try registry.add(name: "r", path: "/r", make: { built.add(1, ordering: .relaxed); return Reusable() })
        try registry.add(name: "p", path: "/p", make: { built.add(100, ordering: .relaxed); return PerRequest() })
        let client = PipelineTestClient(registry: registry)
        for _ in 0..<3 { await client.execute(.get, "/r") }
        #expect(built.load(ordering: .relaxed) == 1)
        for _ in 0..<3 { #expect(await client.execute(.get, "/p").response.bodyText == "1") }
        #expect(built.load(ordering: .relaxed) == 301)
    }

    @Test("a factory chooses per request and gets its handler back after the request")
    func factory() async throws {
        final class Factory: HTTPHandlerFactory {
            let released = Mutex<[String]>([])
            func handler(for context: HTTPContext) throws -> AnyHTTPHandler {
                guard let kind = context.request.query["kind"] else { throw HTTPError(.badRequest, message: "kind required") }
                return .sync(ClosureHandler { $0.response.write(kind) })
            }
            func releaseHandler(_ handler: AnyHTTPHandler) { released.withLock { $0.append(handler.typeName) } }
        }
        let factory = Factory()
        var registry = HandlerRegistry()
        try registry.add(name: "f", path: "/f", factory: factory)
        let client = PipelineTestClient(registry: registry)
        #expect(await client.execute(.get, "/f?kind=a").response.bodyText == "a")
        let bad = await client.execute(.get, "/f")
        #expect(bad.response.status == .badRequest)
        #expect(bad.response.bodyText == "kind required\n")
        #expect(factory.released.withLock { $0.count } == 1)
    }
}
