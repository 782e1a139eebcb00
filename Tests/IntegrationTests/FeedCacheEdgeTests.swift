import Foundation
import Porter
import PorterFeeds
import PorterHost
import PorterTesting
import Testing

/// Issue 13: nginx caches feeds for the declared `edge_cache` seconds, correctly for HEAD, conditional requests and
/// personalised requests, and a write is seen once that validity has passed.
@Suite("Edge: feeds cached by nginx (edge_cache)", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct FeedCacheEdgeTests {
    /// Porter with the sample feeds on `*.rss` and `*.atom`, cached by nginx for a second, behind nginx.
    static func start() async throws -> (PorterProcess, NginxPorterSite, FeedStore, TemporaryDirectory) {
        let dir = try TemporaryDirectory(prefix: "porter-feedcache")
        let store = try FeedStore(path: dir.path("feeds.sqlite"))
        _ = try store.seedSampleData()
        let (porter, site) = try await FeatureNginxTests.start("""
        [[handlers]]
        verb = "GET,HEAD"
        path = "*.rss"
        handler = "feed"
        database = "feeds.sqlite"
        cache_control = "public, max-age=60"
        edge_cache = 1
        [[handlers]]
        verb = "GET,HEAD"
        path = "*.atom"
        handler = "feed"
        database = "feeds.sqlite"
        edge_cache = 1
        """, in: dir)
        return (porter, site, store, dir)
    }

    @Test("HIT after MISS; HEAD first never empties a GET; 304 from the cache; Cookie/Authorization bypass; revalidation; a write is seen")
    func feedsCachedAtTheEdge() async throws {
        let (porter, site, store, dir) = try await Self.start()
        let http = site.client()

        // HEAD first: its empty body must never be served to a GET.
        let head = try await http.fetch("/news.atom", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
        let atom = try await http.fetch("/news.atom")
        #expect(atom.status == 200 && atom.text.contains("<feed"), "GET after HEAD has the document")
        #expect(try await http.fetch("/news.atom").body == atom.body)

        let first = try await http.fetch("/news.rss")
        #expect(first.status == 200 && first.text.contains("<rss version=\"2.0\""))
        let etag = try #require(first.headers["ETag"])
        let lastModified = try #require(first.headers["Last-Modified"])
        // Within the validity nginx answers by itself (HIT) with the same bytes and validators.
        try await waitUntil("a cache HIT") { try await http.fetch("/news.rss").headers["X-Cache-Status"] == "HIT" }
        let hit = try await http.fetch("/news.rss")
        #expect(hit.body == first.body && hit.headers["ETag"] == etag && hit.headers["Last-Modified"] == lastModified)
        let notModified = try await http.fetch("/news.rss", headers: ["If-None-Match": etag])
        #expect(notModified.status == 304 && notModified.body.isEmpty)
        #expect(try await http.fetch("/news.rss", headers: ["If-None-Match": "\"other\""]).status == 200)
        #expect(try await http.fetch("/news.rss", headers: ["If-Modified-Since": lastModified]).status == 304)
        // Personalised requests go to Porter and are not stored.
        #expect(try await http.fetch("/news.rss", headers: ["Cookie": "s=1"]).headers["X-Cache-Status"] == "BYPASS")
        #expect(try await http.fetch("/news.rss", headers: ["Authorization": "Basic eDp5"]).headers["X-Cache-Status"] == "BYPASS")
        // Once stale, nginx revalidates with Porter (a 304 from Porter refreshes the entry): after edge_cache's second,
        // not after the browsers' max-age=60 (nginx obeys Porter's X-Accel-Expires first, and keeps it from clients).
        #expect(hit.headers["Cache-Control"] == "public, max-age=60" && hit.headers["X-Accel-Expires"] == nil)
        try await waitUntil("a REVALIDATED entry") { try await http.fetch("/news.rss").headers["X-Cache-Status"] == "REVALIDATED" }
        try await Task.sleep(for: .seconds(2))
        #expect(try await http.fetch("/news.rss").headers["X-Cache-Status"] == "REVALIDATED",
                "a revalidated copy lives edge_cache seconds too (the 304 carries X-Accel-Expires)")

        // A write by another process (this test's connection) reaches readers within Porter's check + nginx's validity.
        try store.addItem(FeedItem(title: "Edge fresh", link: "/news/edge.html", description: "x"), to: "news")
        try await waitUntil("the new item through nginx") { try await http.fetch("/news.rss").text.contains("<title>Edge fresh</title>") }
        let fresh = try await http.fetch("/news.rss")
        #expect(fresh.headers["ETag"] != etag)
        try await waitUntil("the new item in Atom too") { try await http.fetch("/news.atom").text.contains("Edge fresh") }
        #expect(try await http.fetch("/nope.rss").status == 404)
        try await stopProcess(porter, site)
        withExtendedLifetime(dir) {}
    }

    @Test("gzip through the edge cache: each client gets the representation it asked for, whichever was cached first")
    func gzipVariantsAtTheEdge() async throws {
        let (porter, site, _, dir) = try await Self.start()
        let http = site.client()
        let gzip: HTTPHeaders = ["Accept-Encoding": "gzip"]
        // A gzip client first: nginx caches that representation; an identity client must not get it.
        let compressed = try await http.fetch("/news.rss", headers: gzip)
        #expect(compressed.status == 200 && compressed.headers["Content-Encoding"] == "gzip")
        #expect(compressed.headers["Vary"]?.contains("Accept-Encoding") == true)
        let document = try #require(Gzip.decompress(compressed.body))
        #expect(String(decoding: document, as: UTF8.self).contains("<rss version=\"2.0\""))
        for _ in 0..<3 {
            let plain = try await http.fetch("/news.rss")
            #expect(plain.status == 200 && plain.headers["Content-Encoding"] == nil && plain.body == document,
                    "identity client got \(plain.headers["Content-Encoding"] ?? "identity"), \(plain.body.count) bytes")
            let again = try await http.fetch("/news.rss", headers: gzip)
            #expect(again.headers["Content-Encoding"] == "gzip" && again.body == compressed.body)
            // A client that refuses gzip, or names another coding only, gets the document as is.
            for refuses in ["gzip;q=0", "br", "identity"] {
                let other = try await http.fetch("/news.rss", headers: ["Accept-Encoding": refuses])
                #expect(other.headers["Content-Encoding"] == nil && other.body == document, "\(refuses)")
            }
        }
        // Both representations are served from the cache, each with its own validator.
        try await waitUntil("a HIT for each representation") {
            let compressedHit = try await http.fetch("/news.rss", headers: gzip).headers["X-Cache-Status"] == "HIT"
            let plainHit = try await http.fetch("/news.rss").headers["X-Cache-Status"] == "HIT"
            return compressedHit && plainHit
        }
        let gzipTag = try #require(compressed.headers["ETag"])
        #expect(try await http.fetch("/news.rss", headers: ["Accept-Encoding": "gzip", "If-None-Match": gzipTag]).status == 304)
        #expect(try await http.fetch("/news.rss", headers: ["If-None-Match": gzipTag]).status == 200,
                "the gzip ETag does not validate the identity representation")
        // HEAD from a gzip client never empties a cached GET.
        #expect(try await http.fetch("/news.rss", method: "HEAD", headers: gzip).body.isEmpty)
        #expect(try await http.fetch("/news.rss", headers: gzip).body == compressed.body)
        try await stopProcess(porter, site)
        withExtendedLifetime(dir) {}
    }

    /// Accept-Encoding values and whether nginx's `$porter_accept_gzip` reads them as taking gzip.
    static let encodings: [(String, Bool)] = [
        ("gzip", true), ("GZIP", true), ("gzip, deflate", true), ("deflate, gzip", true), ("br;q=1.0, gzip;q=0.8", true),
        ("gzip;q=0.5", true), ("x-gzip", true), ("*", true), ("br, *;q=0.1", true), (" gzip ", true), ("gzip;level=1", true),
        ("gzip;q=0", false), ("gzip; Q = 0.000", false), ("identity", false), ("br", false), ("*;q=0", false), ("", false),
        ("gzipx", false), ("x-gzip;q=0, br", false), ("deflate, gzip;q=0, *", false),
        // Conservative where the spelling is contradictory (Porter, reading the raw value, would take x-gzip): identity is
        // always acceptable, so nothing wrong is served.
        ("gzip;q=0, x-gzip", false),
    ]

    @Test("every spelling of Accept-Encoding, and any query, is one of two cache entries: HIT after the first of each kind, the right body")
    func encodingSpellingsShareTheCache() async throws {
        let (porter, site, _, dir) = try await Self.start()
        let http = site.client()
        let document = try await http.fetch("/news.rss", headers: ["Accept-Encoding": "identity"]).body
        let compressed = try await http.fetch("/news.rss", headers: ["Accept-Encoding": "gzip"]).body
        #expect(Gzip.decompress(compressed) == document)
        try await waitUntil("both entries cached") {
            let gzipHit = try await http.fetch("/news.rss", headers: ["Accept-Encoding": "gzip"]).headers["X-Cache-Status"] == "HIT"
            let identityHit = try await http.fetch("/news.rss", headers: ["Accept-Encoding": "identity"]).headers["X-Cache-Status"] == "HIT"
            return gzipHit && identityHit
        }
        for (value, takesGzip) in Self.encodings {
            // Safety: nginx never reads gzip into a value Porter would refuse it for.
            if takesGzip { #expect(Gzip.isAccepted(by: value), "\(value)") }
            let answer = try await http.fetch("/news.rss", headers: ["Accept-Encoding": value])
            // One of the two entries: a HIT, or REVALIDATED once edge_cache's second has passed (never a new MISS).
            #expect(answer.status == 200 && ["HIT", "REVALIDATED"].contains(answer.headers["X-Cache-Status"] ?? "-"),
                    "\(value.debugDescription): \(answer.headers["X-Cache-Status"] ?? "-")")
            #expect(answer.headers["Content-Encoding"] == (takesGzip ? "gzip" : nil) && answer.body == (takesGzip ? compressed : document),
                    "\(value.debugDescription): \(answer.headers["Content-Encoding"] ?? "identity")")
            #expect(answer.headers["Vary"]?.contains("Accept-Encoding") == true, "clients' own caches still vary")
        }
        // The key is the normalised path Porter receives ($uri) in this server block: random queries, other spellings of
        // the path and any Host are the same entry (attack pass 31: each was a MISS and a cache file of its own).
        for query in ["?x=1", "?utm_source=a&b=2", "?\(UInt64.random(in: 0...UInt64.max))", "?"] {
            let answer = try await http.fetch("/news.rss" + query, headers: ["Accept-Encoding": "identity"])
            #expect(["HIT", "REVALIDATED"].contains(answer.headers["X-Cache-Status"] ?? "-") && answer.body == document,
                    "\(query): \(answer.headers["X-Cache-Status"] ?? "-")")
        }
        for spelling in ["/%6Eews.rss", "/./news.rss", "//news.rss", "/a/../news.rss", "/news.rss?x=/../"] {
            let answer = try await http.fetch(spelling, headers: ["Accept-Encoding": "identity"])
            #expect(["HIT", "REVALIDATED"].contains(answer.headers["X-Cache-Status"] ?? "-") && answer.body == document,
                    "\(spelling): \(answer.status) \(answer.headers["X-Cache-Status"] ?? "-")")
        }
        for host in ["h1.example", "h2.example:81", "127.0.0.1"] {
            let answer = try await http.fetch("/news.rss", headers: ["Accept-Encoding": "identity", "Host": host])
            #expect(["HIT", "REVALIDATED"].contains(answer.headers["X-Cache-Status"] ?? "-") && answer.body == document,
                    "Host \(host): \(answer.headers["X-Cache-Status"] ?? "-")")
        }
        // Other directories and the extension in capitals are not the feed's URL: Porter (the route from porter.toml) sends
        // them to /news.rss, and nginx keeps nothing of them (no rendering of their own, no cache entry filled).
        for alias in ["/x/news.rss", "/a/b/news.rss?q=1", "/news.RSS", "/\(UInt64.random(in: 0...UInt64.max))/news.rss"] {
            for _ in 0..<2 {
                let answer = try await http.fetch(alias, headers: ["Accept-Encoding": "identity"])
                #expect(answer.status == 301 && answer.headers["Location"] == "/news.rss" && !answer.text.contains("<rss"),
                        "\(alias): \(answer.status) \(answer.headers["X-Cache-Status"] ?? "-")")
                #expect(answer.headers["X-Cache-Status"] == "MISS", "\(alias): a redirect is not stored")
            }
        }
        #expect(try await http.fetch("/atom/podcast.atom").headers["Location"] == "/podcast.atom")
        try await stopProcess(porter, site)
        withExtendedLifetime(dir) {}
    }

    @Test("the generated location caches only when asked, keyed by method; a bad edge_cache is a configuration error")
    func generatedRules() throws {
        func locations(_ extra: String) throws -> String {
            let text = "listen = \"/tmp/x.sock\"\n[[handlers]]\nverb = \"GET\"\npath = \"*.rss\"\nhandler = \"feed\"\n"
                + "database = \"\(NSTemporaryDirectory())porter-edge-rules.sqlite\"\n" + extra
            return try PorterApplication.porter.nginxLocations(for: try ServerConfiguration.parse(toml: text, baseDirectory: "/tmp"))
        }
        let cached = try locations("edge_cache = 5\n")
        #expect(cached.contains("fastcgi_cache porter_pages;"))
        #expect(cached.contains("fastcgi_cache_key \"$request_method|$scheme|$server_name|$uri|$porter_accept_gzip\";"))
        #expect(cached.contains("fastcgi_param HTTP_ACCEPT_ENCODING $porter_accept_gzip;") && cached.contains("fastcgi_ignore_headers Vary;"))
        #expect(cached.contains("fastcgi_cache_valid 200 5s;"))
        #expect(cached.contains("fastcgi_cache_revalidate on;"))
        #expect(cached.contains("fastcgi_cache_lock on;") && cached.contains("fastcgi_cache_lock_timeout 0;"),
                "one request fills an empty entry; the others go to Porter instead of polling nginx's lock every 500 ms")
        #expect(!(try locations("")).contains("fastcgi_cache "))
        // Both read a feed from Porter in one piece (nginx -t accepts these: the edge test above runs them).
        for text in [cached, try locations("")] {
            #expect(text.contains("fastcgi_buffer_size 32k;") && text.contains("fastcgi_buffers 4 16k;") && text.contains("fastcgi_busy_buffers_size 32k;"))
        }
        for bad in ["-1", "3601", "\"1s\""] {
            #expect(throws: (any Error).self, "edge_cache = \(bad)") { try locations("edge_cache = \(bad)\n") }
        }
        let site = try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter.conf", encoding: .utf8)
        #expect(site.contains("keys_zone=porter_pages:"))
        // Resized images: waiters for an entry being filled retry after 100 ms instead of nginx's 500 ms lock poll, and
        // do not all go to Porter at once (whose resize queue would answer some of a cold flood with 503).
        #expect(site.contains("fastcgi_cache_lock on;\n        fastcgi_cache_lock_timeout 100ms;"))
    }
}
