import Foundation
import Porter
import PorterFeeds
import PorterImages
import PorterHost
import PorterDemo
import PorterTesting
import Testing

/// The built-in handlers through the shipped nginx site and the `porter` process.
@Suite("Built-in handlers through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct FeatureNginxTests {
    /// Writes a porter.toml for `body` (listen line added) and starts `porter serve` plus nginx.
    static func start(_ body: String, in dir: TemporaryDirectory, socket: String = "s", staticFiles: [String: String] = [:])
        async throws -> (PorterProcess, NginxPorterSite) {
        let text = "listen = \"\(dir.path(socket))\"\nsocket_mode = \"0666\"\nlog_level = \"info\"\n" + body
        let configuration = try ServerConfiguration.parse(toml: text, baseDirectory: dir.path)
        let config = try dir.write(text, to: "porter-\(socket).toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config], logPath: dir.path("porter-\(socket).log"))
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(dir.path(socket)) })
        let locations = try PorterApplication.porter.nginxLocations(for: configuration)
        // Starting nginx waits for its port: off the cooperative pool, which in-process servers' handlers need.
        let site = try await ConcurrentClients.offPool {
            try NginxPorterSite(socketPath: dir.path(socket), locations: locations, staticFiles: staticFiles)
        }
        return (porter, site)
    }

    @Test("RSS and Atom from a real SQLite file; 304 on If-None-Match; HEAD; unknown channel 404")
    func feeds() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-feeds")
        _ = try FeedStore(path: dir.path("feeds.sqlite")).seedSampleData()
        let (porter, site) = try await Self.start("""
        [[handlers]]
        verb = "GET,HEAD"
        path = "*.rss"
        handler = "feed"
        database = "feeds.sqlite"
        [[handlers]]
        verb = "GET,HEAD"
        path = "*.atom"
        handler = "feed"
        database = "feeds.sqlite"
        """, in: dir)
        let http = site.client()
        let rss = try await http.fetch("/news.rss")
        #expect(rss.status == 200)
        #expect(rss.headers["Content-Type"] == "application/rss+xml; charset=utf-8")
        #expect(rss.text.contains("<rss version=\"2.0\""))
        let etag = try #require(rss.headers["ETag"])
        let again = try await http.fetch("/news.rss", headers: ["If-None-Match": etag])
        #expect(again.status == 304 && again.body.isEmpty)
        #expect(try await http.fetch("/news.atom").headers["Content-Type"] == "application/atom+xml; charset=utf-8")
        #expect(try await http.fetch("/feeds/news.atom").headers["Location"] == "/news.atom", "one URL per feed")
        let head = try await http.fetch("/news.rss", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(try await http.fetch("/nope.rss").status == 404)
        porter.signal(SIGTERM)
        _ = await porter.exitStatus()
        site.stop()
    }

    @Test("images: originals from nginx, resizes from Porter cached by nginx (fastcgi_cache), traversal refused")
    func images() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-img")
        _ = try SampleImages.write(to: dir.path("www/images"))
        let (porter, site) = try await Self.start("""
        [[handlers]]
        verb = "GET,HEAD"
        path = "/images/*"
        handler = "image"
        root = "www/images"
        allow_unsigned = true
        """, in: dir)
        // The site's document root is the harness's; point nginx at the same images by copying them there.
        _ = try SampleImages.write(to: site.root.path("images"))
        let http = site.client()
        let original = try await http.fetch("/images/sunset.jpg")
        #expect(original.status == 200 && original.headers["Content-Type"] == "image/jpeg")
        #expect(original.headers["X-Cache-Status"] == nil, "the original is a static file")
        let first = try await http.fetch("/images/sunset.jpg?w=300&fmt=webp")
        #expect(first.status == 200 && first.headers["Content-Type"] == "image/webp")
        #expect(first.headers["X-Cache-Status"] == "MISS")
        let second = try await http.fetch("/images/sunset.jpg?w=300&fmt=webp")
        #expect(second.headers["X-Cache-Status"] == "HIT")
        #expect(second.body == first.body)
        for bad in ["/images/../porter-s.toml?w=10", "/images/%2e%2e/x.jpg?w=10", "/images/sunset.jpg?w=999999"] {
            let r = try await http.fetch(bad)
            #expect(r.status >= 400 && r.status < 500, "\(bad) → \(r.status)")
        }
        porter.signal(SIGTERM)
        _ = await porter.exitStatus()
        site.stop()
    }

    @Test("two Porter processes behind one nginx upstream share sessions (SQLite), and sessions survive a restart")
    func sharedSessions() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-sess")
        let config = """
        [[modules]]
        name = "log"
        [[modules]]
        name = "session"
        store = "sqlite"
        path = "sessions.sqlite"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/visits"
        handler = "visits"
        """
        let (a, site) = try await Self.start(config, in: dir, socket: "a")
        let text = "listen = \"\(dir.path("b"))\"\nsocket_mode = \"0666\"\n" + config
        let b = try PorterProcess(arguments: ["serve", "--config", try dir.write(text, to: "porter-b.toml")], logPath: dir.path("porter-b.log"))
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(dir.path("b")) })
        // Same upstream, two servers: rewrite the rendered site's upstream and reload nginx.
        let conf = site.nginx.prefix.read("nginx.conf")
            .replacingOccurrences(of: "server unix:\(dir.path("a"));", with: "server unix:\(dir.path("a")); server unix:\(dir.path("b"));")
        try site.nginx.prefix.write(conf, to: "nginx.conf")
        try await site.nginx.reloadAndWait()
        /// The visit count the page shows (-1 if none), the session cookie it set, and what came back.
        func visits(_ cookie: String?) async throws -> (Int, String?, String) {
            let r = try await site.client().fetch("/visits", headers: cookie.map { ["Cookie": $0] } ?? [:])
            let count = r.text.range(of: #"<dd id="visits">(\d+)</dd>"#, options: .regularExpression)
                .map { Int(r.text[$0].filter(\.isNumber)) ?? -1 } ?? -1
            let setCookie = r.headers["Set-Cookie"]?.split(separator: ";").first.map(String.init)
            return (count, setCookie, "status \(r.status): \(r.text.prefix(300))")
        }
        var (count, cookie, answer) = try await visits(nil)
        #expect(count == 1, "\(answer)")
        for expected in 2...10 {
            (count, _, answer) = try await visits(cookie)
            #expect(count == expected, "\(answer)")
        }
        try await waitUntil("both processes to log serving /visits (a: \(a.logCount("handler=visits")), b: \(b.logCount("handler=visits")))") {
            a.log.contains("handler=visits") && b.log.contains("handler=visits")
        }
        // Restart: both processes stop, one starts again on a's socket. nginx is pointed at just that one and
        // reloaded, so it neither reuses a connection cached to a stopped process nor marks the upstream down
        // for it (with two servers nginx counts such a failure): the session must come from the SQLite file.
        a.signal(SIGTERM); b.signal(SIGTERM)
        #expect(await a.exitStatus() == 0)
        #expect(await b.exitStatus() == 0)
        let a2 = try PorterProcess(arguments: ["serve", "--config", dir.path("porter-a.toml")], logPath: dir.path("porter-a2.log"))
        try await waitUntil("the restarted porter to accept connections") { LocalPorts.isAccepting(unixPath: dir.path("a")) }
        try site.nginx.prefix.write(site.nginx.prefix.read("nginx.conf")
            .replacingOccurrences(of: " server unix:\(dir.path("b"));", with: ""), to: "nginx.conf")
        try await site.nginx.reloadAndWait()
        (count, _, answer) = try await visits(cookie)
        #expect(count == 11, "the session survived the restart; \(answer); nginx: \(site.nginx.errorLog.suffix(800))")
        a2.signal(SIGTERM)
        _ = await a2.exitStatus()
        site.stop()
    }
}
