import Foundation
import Porter
import Testing
@testable import PorterFeeds

/// The handler through a real pipeline: conditional GET, HEAD, 404, 405, limit, options.
@Suite struct FeedHandlerTests {
    /// The feed handler's validators through the core's conditional GET (the full precondition table is in
    /// PorterTests' `ConditionalGETTests`).
    @Test(arguments: [
        ("INM match", 304), ("INM mismatch", 200), ("IMS equal", 304), ("IMS older", 200),
    ], ["/news.rss", "/feeds/podcast.atom"])
    func conditionalGET(_ testCase: (String, Int), path: String) async throws {
        let (name, status) = testCase
        let feeds = try TempFeeds()
        let pipeline = try feedPipeline(feeds.store)
        let first = await run(pipeline, .get, path)
        #expect(first.status == 200)
        let etag = try #require(first.headers["ETag"])
        let lastModifiedText = try #require(first.headers["Last-Modified"])
        let lastModified = try #require(HTTPDate.parse(lastModifiedText))
        let headers: HTTPHeaders = switch name {
        case "INM match": ["If-None-Match": etag]
        case "INM mismatch": ["If-None-Match": "\"0123\""]
        case "IMS equal": ["If-Modified-Since": lastModifiedText]
        default: ["If-Modified-Since": HTTPDate.rfc1123(lastModified - 3600)]
        }

        let outcome = await run(pipeline, .get, path, headers: headers)
        #expect(outcome.status == status, "\(name)")
        #expect(outcome.headers["ETag"] == etag)
        #expect(outcome.headers["Last-Modified"] == lastModifiedText)
        #expect(outcome.headers["Cache-Control"] == "public, max-age=60")
        if status == 304 {
            #expect(outcome.body.isEmpty)
            #expect(outcome.headers["Content-Type"] == nil)
        } else {
            #expect(outcome.body == first.body)
            #expect(outcome.headers["Content-Type"] == first.headers["Content-Type"])
        }
    }

    /// Headers and cookies a module set before the handler survive, on 200 and on 304.
    @Test func moduleHeadersSurviveTheFeedResponse() async throws {
        let feeds = try TempFeeds()
        let module = ClosureModule(name: "stamp") { events in
            events.on(.beginRequest) { ctx in
                ctx.response.headers["X-Frame-Options"] = "DENY"
                ctx.response.cookies.append(SetCookie(name: "seen", value: "1"))
            }
        }
        let pipeline = try feedPipeline(feeds.store, modules: [module])
        let ok = await run(pipeline, .get, "/news.rss")
        #expect(ok.status == 200)
        #expect(ok.headers["X-Frame-Options"] == "DENY")
        #expect(ok.cookies.map(\.name) == ["seen"])
        let notModified = await run(pipeline, .get, "/news.rss", headers: ["If-None-Match": try #require(ok.headers["ETag"])])
        #expect(notModified.status == 304)
        #expect(notModified.headers["X-Frame-Options"] == "DENY")
        #expect(notModified.cookies.map(\.name) == ["seen"])
    }

    @Test func validatorsAreStrongStableAndPerRepresentation() async throws {
        let feeds = try TempFeeds()
        let pipeline = try feedPipeline(feeds.store)
        let rss1 = await run(pipeline, .get, "/news.rss")
        let rss2 = await run(pipeline, .get, "/news.rss")
        let atom = await run(pipeline, .get, "/news.atom")
        let etag = try #require(rss1.headers["ETag"])
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\"") && etag.count == 34, "strong, 128-bit: \(etag)")
        #expect(rss2.headers["ETag"] == etag)
        #expect(atom.headers["ETag"] != etag)
        #expect(EntityTag(hashing: rss1.body).description == etag)
        // Last-Modified is the channel's last change and matches lastBuildDate.
        let channel = try #require(try feeds.store.channel(slug: "news"))
        #expect(rss1.headers["Last-Modified"] == HTTPDate.rfc1123(channel.updatedAt.unixSeconds))
        #expect(rss1.text.contains("<lastBuildDate>\(HTTPDate.rfc1123(channel.updatedAt.unixSeconds))</lastBuildDate>"))
    }

    /// gzip for clients that take it: the same document compressed, its own ETag, `Vary` on every answer, 304 per
    /// representation, identity for everyone else (no header, q=0, other codings).
    @Test(arguments: [
        (nil, false), ("gzip", true), ("gzip, deflate, br", true), ("br;q=1.0, gzip;q=0.8, *;q=0.1", true), ("x-gzip", true),
        ("*", true), ("gzip;q=0", false), ("gzip;q=0.000", false), ("*;q=0", false), ("identity", false), ("deflate, br", false),
        ("gzip;q=0, *", false), ("GZIP", true), ("gzip;q=nan", false), ("", false), (",,;;", false),
    ] as [(String?, Bool)])
    func gzipForClientsThatTakeIt(_ acceptEncoding: String?, _ gzipped: Bool) async throws {
        let feeds = try TempFeeds()
        let pipeline = try feedPipeline(feeds.store)
        let plain = await run(pipeline, .get, "/news.rss")
        let headers: HTTPHeaders = acceptEncoding.map { ["Accept-Encoding": $0] } ?? [:]
        let answer = await run(pipeline, .get, "/news.rss", headers: headers)
        #expect(answer.status == 200)
        #expect(answer.headers["Vary"] == "Accept-Encoding" && plain.headers["Vary"] == "Accept-Encoding")
        #expect(answer.headers["Content-Type"] == plain.headers["Content-Type"])
        if gzipped {
            #expect(answer.headers["Content-Encoding"] == "gzip")
            #expect(Gzip.decompress(answer.body) == plain.body, "the same document")
            #expect(answer.body.count < plain.body.count, "\(answer.body.count) of \(plain.body.count) bytes")
            let etag = try #require(answer.headers["ETag"])
            #expect(etag != plain.headers["ETag"] && etag == EntityTag(hashing: answer.body).description)
            // Its own validator gives 304 (without Content-Encoding: no body); the identity one does not match it.
            func conditional(_ tag: String) -> HTTPHeaders { var h = headers; h["If-None-Match"] = tag; return h }
            let notModified = await run(pipeline, .get, "/news.rss", headers: conditional(etag))
            #expect(notModified.status == 304 && notModified.body.isEmpty && notModified.headers["Content-Encoding"] == nil)
            #expect(notModified.headers["Vary"] == "Accept-Encoding" && notModified.headers["ETag"] == etag)
            let other = await run(pipeline, .get, "/news.rss", headers: conditional(plain.headers["ETag"]!))
            #expect(other.status == 200 && other.body == answer.body)
            // HEAD: the GET's headers, Content-Encoding included.
            let head = await run(pipeline, .head, "/news.rss", headers: headers)
            #expect(head.headers["Content-Encoding"] == "gzip" && head.headers["ETag"] == etag)
        } else {
            #expect(answer.headers["Content-Encoding"] == nil)
            #expect(answer.body == plain.body && answer.headers["ETag"] == plain.headers["ETag"])
        }
    }

    @Test func aNewItemChangesTheETagAndOldValidatorsGet200() async throws {
        let feeds = try TempFeeds()
        let pipeline = try feedPipeline(feeds.store)
        let before = await run(pipeline, .get, "/news.rss")
        let etag = try #require(before.headers["ETag"])
        try feeds.store.addItem(FeedItem(title: "Breaking", link: "/news/breaking.html", description: "<p>new</p>"), to: "news")
        let after = await run(pipeline, .get, "/news.rss", headers: ["If-None-Match": etag])
        #expect(after.status == 200)
        #expect(after.headers["ETag"] != etag)
        #expect(after.text.contains("<title>Breaking</title>"))
        let again = await run(pipeline, .get, "/news.rss", headers: ["If-None-Match": try #require(after.headers["ETag"])])
        #expect(again.status == 304)
    }

    @Test func headHasTheSameHeadersAsGet() async throws {
        let feeds = try TempFeeds()
        let pipeline = try feedPipeline(feeds.store)
        for path in ["/news.rss", "/news.atom"] {
            let get = await run(pipeline, .get, path)
            let head = await run(pipeline, .head, path)
            #expect(head.status == 200)
            #expect(head.headers.fields.map(\.name) == get.headers.fields.map(\.name))
            #expect(head.headers.fields.map(\.value) == get.headers.fields.map(\.value))
            // The transport strips a HEAD body; the handler keeps it so Content-Length is the GET's.
            #expect(head.body.count == get.body.count)
        }
    }

    @Test(arguments: [
        ("/nope.rss", 404), ("/feeds/nope.atom", 404), ("/.rss", 404), ("/bad%20slug.rss", 404),
        ("/bad.slug.rss", 404), ("/%C3%A9t%C3%A9.rss", 404), ("/news.RSS", 200), ("/a/b/c/news.rss", 200),
        ("/news.rss?limit=1&x=<y>", 200), ("/" + String(repeating: "n", count: 101) + ".rss", 404),
    ])
    func channelFromPath(path: String, status: Int) async throws {
        let feeds = try TempFeeds()
        let outcome = await run(try feedPipeline(feeds.store), .get, path, headers: ["If-None-Match": "*"])
        // `*` matches any current representation, so an existing channel answers 304 and an unknown one 404.
        #expect(outcome.status == (status == 200 ? 304 : 404))
        let plain = await run(try feedPipeline(feeds.store), .get, path)
        #expect(plain.status == status)
        if status == 404 {
            #expect(plain.headers["ETag"] == nil)
            #expect(plain.headers["Content-Type"] == "text/plain; charset=utf-8")
        }
        if path == "/nope.rss" { #expect(plain.text == "No such feed\n") }
    }

    @Test func selfLinkIsTheRequestPathEscaped() async throws {
        let feeds = try TempFeeds()
        let outcome = await run(try feedPipeline(feeds.store, siteURL: "https://example.org/"), .get, "/a%20b/\"q\"/news.rss")
        #expect(outcome.status == 200)
        #expect(outcome.text.contains("<atom:link href=\"https://example.org/a%20b/%22q%22/news.rss\" rel=\"self\""))
        #expect(outcome.text.contains("<link>https://example.org/news/</link>"))
    }

    @Test func otherVerbsAre405() async throws {
        let feeds = try TempFeeds()
        // Registered for every verb: the handler itself refuses.
        let open = try feedPipeline(feeds.store, verbs: "*")
        let post = await run(open, .post, "/news.rss")
        #expect(post.status == 405)
        #expect(post.headers["Allow"] == "GET, HEAD")
        // Registered for GET,HEAD: the registry refuses first.
        let closed = await run(try feedPipeline(feeds.store), .delete, "/news.rss")
        #expect(closed.status == 405)
    }

    @Test(arguments: [(nil as Int?, 50), (3, 3), (1, 1), (200, 60)])
    func limitKeepsTheNewestItems(limit: Int?, expected: Int) async throws {
        let feeds = try TempFeeds(seed: false)
        try feeds.store.addChannel(FeedChannel(slug: "many", title: "Many"))
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        for i in 0..<60 {
            try feeds.store.addItem(FeedItem(title: "Item \(i)", link: "/many/\(i)", description: "n\(i)",
                                             publishedAt: start.addingTimeInterval(Double(i) * 60)), to: "many")
        }
        let pipeline = try feedPipeline(feeds.store, limit: limit ?? FeedHandler.defaultLimit)
        for format in FeedFormat.allCases {
            let outcome = await run(pipeline, .get, "/many.\(format.rawValue)")
            let titles = outcome.text.split(separator: "\n").filter { $0.contains("Item ") }
            #expect(titles.count == expected)
            #expect(titles.first?.contains("Item 59<") == true, "newest first")
            #expect(titles.last?.contains("Item \(60 - expected)<") == true)
        }
    }

    @Test func optionsConfigureTheHandler() async throws {
        let feeds = try TempFeeds()
        let handler = try FeedHandler(options: Options([
            "database": .string(feeds.path), "limit": .int(2), "cache_control": .string("public, max-age=300"),
            "site_url": .string("https://feeds.example.com"),
        ], origin: "handlers[0] (rss)"))
        #expect(handler.limit == 2)
        #expect(handler.siteURL == "https://feeds.example.com")
        var registry = HandlerRegistry()
        try registry.add(name: "rss", verbs: "GET", path: "*.rss", handler: handler)
        let outcome = await run(Pipeline(registry: registry, modules: []), .get, "/news.rss")
        #expect(outcome.status == 200)
        #expect(outcome.headers["Cache-Control"] == "public, max-age=300")
        #expect(outcome.text.components(separatedBy: "<item>").count == 3)
        #expect(outcome.text.contains("<link>https://feeds.example.com/news/2025/escaping.html</link>"))

        let defaults = try FeedHandler(options: Options(["database": .string(feeds.path)]))
        #expect(defaults.limit == 50 && defaults.cacheControl == nil && defaults.siteURL == "http://127.0.0.1:8080")
        #expect(defaults.store === handler.store, "one store per database file")
    }

    @Test(arguments: [
        (["limit": ConfigValue.int(0)], "limit must be between 1 and 1000"),
        (["limit": .string("many")], "limit must be an integer"),
        (["site_url": .string("example.org")], "site_url must be an http:// or https:// URL"),
        (["format": .string("json")], "format must be auto, rss or atom"),
        (["cache_control": .string("a\r\nSet-Cookie: x=1")], "cache_control must be one line"),
        (["database": .string("/proc/porter-feeds-denied/x.sqlite")], "cannot open feeds database"),
    ])
    func badOptionsAreExplained(values: [String: ConfigValue], message: String) throws {
        let feeds = try TempFeeds(seed: false)
        var all = values
        if all["database"] == nil { all["database"] = .string(feeds.path) }
        let error = #expect(throws: ConfigurationError.self) { try FeedHandler(options: Options(all, origin: "handlers[1] (rss)")) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(error?.message.hasPrefix("handlers[1] (rss): ") == true)
    }

    @Test func concurrentRequestsOnWorkerThreadsAgree() async throws {
        let feeds = try TempFeeds()
        let handler = FeedHandler(store: feeds.store, siteURL: "http://example.test")
        let expected = await run(try feedPipeline(feeds.store, siteURL: "http://example.test"), .get, "/news.rss")
        let results = Mutex<[[UInt8]]>([])
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            let ctx = HTTPContext(request: HTTPRequest(uri: i % 2 == 0 ? "/news.rss" : "/feeds/news.rss"),
                                  application: ApplicationState(), logger: .init(label: "t"))
            try? handler.processRequest(ctx)
            if i % 2 == 0 { results.withLock { $0.append(ctx.response.bufferedBody ?? []) } }
        }
        let bodies = results.withLock { $0 }
        #expect(bodies.count == 32)
        #expect(bodies.allSatisfy { $0 == expected.body })
    }
}

import Synchronization

/// `edge_cache` reaches nginx as `X-Accel-Expires` (which it obeys before a browser's `max-age`), on 200 and on the
/// 304 that revalidates nginx's copy; never when the response's Cache-Control keeps it out of shared caches.
@Suite struct FeedEdgeExpiryTests {
    @Test(arguments: [
        (1, "public, max-age=60", "1"), (30, nil, "30"), (nil, "public, max-age=60", nil), (1, "private, max-age=60", nil),
        (1, "no-store", nil), (1, "public, No-Cache", nil), (1, "public, max-age=60, no-cache=\"Set-Cookie\"", nil),
        (1, "public, x-private-thing=1", "1"),
    ] as [(Int?, String?, String?)])
    func edgeCacheSecondsBecomeXAccelExpires(_ edge: Int?, _ cacheControl: String?, _ expected: String?) async throws {
        let feeds = try TempFeeds()
        var registry = HandlerRegistry()
        try registry.add(name: "rss", verbs: "GET,HEAD", path: "*.rss",
                         handler: FeedHandler(store: feeds.store, cacheControl: cacheControl, edgeCacheSeconds: edge))
        let pipeline = Pipeline(registry: registry, modules: [])
        let ok = await run(pipeline, .get, "/news.rss")
        #expect(ok.status == 200 && ok.headers["X-Accel-Expires"] == expected)
        let revalidation = await run(pipeline, .get, "/news.rss", headers: ["If-None-Match": try #require(ok.headers["ETag"])])
        #expect(revalidation.status == 304 && revalidation.headers["X-Accel-Expires"] == expected)
    }

    @Test func theOptionSetsIt() throws {
        let feeds = try TempFeeds()
        #expect(try FeedHandler(options: Options(["database": .string(feeds.path), "edge_cache": .int(5)])).edgeCacheSeconds == 5)
        #expect(try FeedHandler(options: Options(["database": .string(feeds.path)])).edgeCacheSeconds == nil)
    }
}

/// One URL per feed: given its route, the handler redirects every other spelling of a channel's path to the route's
/// own (an alias was a rendering, a gzip copy and an nginx cache entry of its own per request).
@Suite struct FeedCanonicalURLTests {
    @Test("route, path → status and Location", arguments: [
        ("*.rss", "/news.rss", 200, nil), ("*.rss", "/feeds/news.rss", 301, "/news.rss"), ("*.rss", "/news.RSS", 301, "/news.rss"),
        ("*.rss", "/a/b/c/news.rss?x=1", 301, "/news.rss"), ("*.rss", "/nope.rss", 404, nil), ("*.rss", "/a/nope.rss", 301, "/nope.rss"),
        ("*.rss", "/News.rss", 404, nil),
        ("/feeds/*.atom", "/feeds/podcast.atom", 200, nil), ("/feeds/*.atom", "/feeds/x/podcast.atom", 301, "/feeds/podcast.atom"),
        ("/feeds/*.atom", "/feeds/podcast.Atom", 301, "/feeds/podcast.atom"),
        ("/feeds/*", "/feeds/news.rss", 200, nil), ("/feeds/*", "/feeds/a/news.rss", 301, "/feeds/news.rss"),
        ("/feeds/*", "/feeds/news.ATOM", 301, "/feeds/news.atom"), ("/feeds/*", "/feeds/news", 200, nil),
        ("/feeds/*", "/feeds/x/news.r%3Css", 301, "/feeds/news"),
        ("*", "/news.rss", 200, nil), ("*", "/x/news.atom", 301, "/news.atom"),
        ("/the-news.xml", "/the-news.xml", 404, nil),
    ] as [(String, String, Int, String?)])
    func redirects(_ route: String, _ uri: String, _ status: Int, _ location: String?) async throws {
        let feeds = try TempFeeds()
        var registry = HandlerRegistry()
        let pattern = try PathPattern(route)
        try registry.add(name: "feed", verbs: "GET,HEAD", path: route,
                         handler: FeedHandler(store: feeds.store, siteURL: "http://example.test", route: pattern))
        let pipeline = Pipeline(registry: registry, modules: [])
        for method in [HTTPMethod.get, .head] {
            let answer = await run(pipeline, method, uri)
            #expect(answer.status == status, "\(method) \(uri) on \(route)")
            #expect(answer.headers["Location"] == location, "\(method) \(uri) on \(route)")
            if status == 301 { #expect(answer.body.isEmpty && answer.headers["ETag"] == nil) }
        }
    }

    @Test("an exact route is its feed's one URL; without a route every spelling is served as asked")
    func exactAndNoRoute() async throws {
        let feeds = try TempFeeds()
        var registry = HandlerRegistry()
        try registry.add(name: "feed", verbs: "GET", path: "/news.rss",
                         handler: FeedHandler(store: feeds.store, route: try PathPattern("/news.rss")))
        #expect(await run(Pipeline(registry: registry, modules: []), .get, "/news.rss").status == 200)
        let free = try feedPipeline(feeds.store)
        let aliased = await run(free, .get, "/feeds/news.rss")
        #expect(aliased.status == 200 && aliased.text.contains("href=\"http://example.test/feeds/news.rss\""))
    }

    @Test("aliases render nothing: after a flood of them the one rendering is still cached, and only it")
    func aliasesDoNotFillTheRenderCache() async throws {
        let feeds = try TempFeeds()
        let handler = FeedHandler(store: feeds.store, route: try PathPattern("*.rss"))
        var registry = HandlerRegistry()
        try registry.add(name: "feed", verbs: "GET", path: "*.rss", handler: handler)
        let pipeline = Pipeline(registry: registry, modules: [])
        #expect(await run(pipeline, .get, "/news.rss").status == 200)
        for i in 0..<300 { #expect(await run(pipeline, .get, "/a\(i)/news.rss").status == 301) }
        #expect(handler.cache.count == 1)
        #expect(handler.cache.lookup("/news.rss", generation: feeds.store.generation()) != nil)
    }
}
