import Foundation
import Porter
import PorterHost
import PorterImages
import PorterTesting
import Testing

/// Issue 10, items 1 and 2: HEAD and the nginx image cache; who may order a resize.
@Suite("Edge: images through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct ImageEdgeTests {
    static let key = "edge-test-signing-key-0123456789abcdef"

    /// The image handler over the sample images at `/images/*` (nginx serves originals, resizes go through the cached
    /// named location), in process behind real nginx; `configure` adds presets or keys. The directory lives as long as
    /// the caller keeps it.
    static func startSite(_ prefix: String, routesFirst: (inout PorterApplication) -> Void = { _ in },
                          _ configure: (inout ImageServerConfiguration) throws -> Void) async throws
        -> (handler: ImageHandler, running: InProcessSite, dir: TemporaryDirectory) {
        let dir = try TemporaryDirectory(prefix: prefix)
        _ = try await ConcurrentClients.offPool { try SampleImages.write(to: dir.path("images")) }
        var images = ImageServerConfiguration(root: dir.path("images"))
        try configure(&images)
        let handler = try ImageHandler(images)
        var app = PorterApplication(name: "edge")
        routesFirst(&app)
        app.map("GET,HEAD", "/images/*", handler, name: "image", edge: EdgePolicy(staticUnlessQuery: "@porter_image"))
        return (handler, try await InProcessSite.start(app, ServerConfiguration()), dir)
    }

    @Test("a HEAD first does not poison nginx's cache: the GET after it gets the whole image, and the HEAD resized nothing")
    func headThenGet() async throws {
        let (handler, running, dir) = try await Self.startSite("porter-head") { $0.signingKeys = try KeyRing(secrets: ["text:" + Self.key]) }
        // Hang guard: an empty cached body never completes. Generous: on a 2-core machine with one core busy, a
        // request here took over 5 s twice in three full runs, each time ~35 s into the run, while ImageConcurrencyTests
        // floods resizes in the same process.
        let http = running.site.client(timeout: .seconds(30))
        for (url, type) in [(handler.url(path: "/images/sunset.jpg", parameters: ImageParameters(width: 320, format: .jpeg)), "image/jpeg"),
                            (handler.url(path: "/images/sunset.jpg", parameters: ImageParameters(width: 240)), "image/jpeg")] {
            let before = handler.statistics.resizes
            let head = try await http.fetch(url, method: "HEAD")
            #expect(head.status == 200 && head.body.isEmpty)
            #expect(head.headers["Content-Type"] == type)
            #expect(head.headers["Content-Length"] == nil, "the size is unknown without resizing")
            #expect(handler.statistics.resizes == before, "HEAD must not resize")
            let get = try await http.fetch(url)
            #expect(get.status == 200)
            #expect(get.headers["X-Cache-Status"] == "MISS", "the GET must not be answered from the HEAD's cache entry")
            #expect(get.body.count > 1000 && get.body.prefix(2).elementsEqual([0xFF, 0xD8]) && get.body.suffix(2).elementsEqual([0xFF, 0xD9]),
                    "a whole JPEG, got \(get.body.count) bytes")
            #expect(get.headers["Content-Length"] == String(get.body.count))
            #expect(get.headers["ETag"] == head.headers["ETag"] && get.headers["Cache-Control"] == head.headers["Cache-Control"])
            #expect(get.headers["Vary"] == head.headers["Vary"])
            #expect(handler.statistics.resizes == before + 1)
            let again = try await http.fetch(url)
            #expect(again.headers["X-Cache-Status"] == "HIT" && again.body == get.body)
            let headAfter = try await http.fetch(url, method: "HEAD")
            #expect(headAfter.status == 200 && headAfter.body.isEmpty && handler.statistics.resizes == before + 1)
            #expect(try await http.fetch(url).body == get.body, "a HEAD after the GET does not replace its cache entry")
        }
        await running.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("every spelling of Accept shares one of two nginx cache entries: a flood of new spellings resizes nothing, and each entry holds what its key says")
    func acceptSpellingsShareTwoEntries() async throws {
        let (handler, running, dir) = try await Self.startSite("porter-accept") {
            $0.presets = ["thumb": ImageParameters(width: 200, height: 200, fit: .cover)]
        }
        let http = running.site.client(timeout: .seconds(30))
        // nginx decides (its map in nginx/porter.conf) and Porter answers what it was told: an unreadable q for WebP
        // comes first, so a Porter reading the raw header would store a JPEG in the WebP entry.
        let webp = ["image/webp;q=abc", "image/webp", "image/avif,image/webp,*/*;q=0.8", "IMAGE/WEBP", "text/html, image/webp;q=0.5",
                    "image/webp;level=1"]
        let other: [String?] = [nil, "text/html", "*/*", "image/*", "image/webp;q=0", "image/webp;q=0.0, */*", "image/webpx",
                                "image/png;q=0.9, image/webp ;q=0", String(repeating: "x", count: 2000)]
        let before = handler.statistics.resizes
        for (spellings, type) in [(webp.map(Optional.some), "image/webp"), (other, "image/jpeg")] {
            for (index, accept) in spellings.enumerated() {
                var headers = HTTPHeaders()
                if let accept { headers["Accept"] = accept }
                let answer = try await http.fetch("/images/sunset.jpg?p=thumb", headers: headers)
                #expect(answer.status == 200 && answer.headers["Content-Type"] == type, "Accept: \(accept ?? "none")")
                #expect(answer.headers["X-Cache-Status"] == (index == 0 ? "MISS" : "HIT"), "Accept: \(accept ?? "none")")
                #expect(answer.headers["Vary"] == "Accept", "clients' own caches still vary on Accept")
            }
        }
        #expect(handler.statistics.resizes == before + 2, "one resize per entry, not one per spelling")
        await running.stop()
        withExtendedLifetime(dir) {}
    }

    /// Answers "hi" with no caching headers: a route listed before the images, as `*.hello` is in the demo.
    struct Hi: HTTPHandler {
        func processRequest(_ context: HTTPContext) throws { context.response.write("hi") }
    }

    @Test("nginx's image cache stores only what the image handler marks: another route's answer under /images/ is never stored; edge_cache = 0 stores nothing")
    func onlyImagesFillTheImageCache() async throws {
        for edgeCache in [604_800, 0] {
            let (_, running, dir) = try await Self.startSite("porter-imgcache", routesFirst: { $0.map("GET,HEAD", "*.hello", Hi(), name: "hi") }) {
                $0.presets = ["thumb": ImageParameters(width: 120, height: 120, fit: .cover)]
                $0.edgeCacheSeconds = edgeCache
            }
            let http = running.site.client(timeout: .seconds(30))
            // Porter routes /images/x.hello to the first match (Hi): a new URI per request must not become a cache file.
            for _ in 0..<3 {
                let other = try await http.fetch("/images/x.hello?a=1")
                #expect(other.status == 200 && other.text == "hi" && other.headers["X-Cache-Status"] == "MISS",
                        "\(other.status) \(other.headers["X-Cache-Status"] ?? "-")")
            }
            let first = try await http.fetch("/images/sunset.jpg?p=thumb")
            #expect(first.status == 200 && first.headers["X-Cache-Status"] == "MISS")
            #expect(first.headers["X-Accel-Expires"] == nil, "nginx keeps X-Accel-Expires from clients")
            let again = try await http.fetch("/images/sunset.jpg?p=thumb")
            #expect(again.headers["X-Cache-Status"] == (edgeCache > 0 ? "HIT" : "MISS") && again.body == first.body, "edge_cache = \(edgeCache)")
            await running.stop()
            withExtendedLifetime(dir) {}
        }
    }

    @Test("every spelling of a preset or signed URI is redirected to the one nginx caches: a flood of spellings resizes nothing")
    func uriSpellingsShareOneEntry() async throws {
        let (handler, running, dir) = try await Self.startSite("porter-spelling") {
            $0.presets = ["thumb": ImageParameters(width: 200, height: 200, fit: .cover)]
            $0.signingKeys = try KeyRing(secrets: ["text:" + Self.key])
        }
        let http = running.site.client(timeout: .seconds(30))
        let signed = handler.url(path: "/images/sunset.jpg", parameters: ImageParameters(width: 300, format: .jpeg))
        let query = String(signed.split(separator: "?")[1])
        for (canonical, spellings) in [
            ("/images/sunset.jpg?p=thumb", ["/images/sunset.jpg?p=thumb&", "/images/sunset.jpg?&p=thumb", "/images/%73unset.jpg?p=thumb",
                                             "/images/sunset.jpg?p=th%75mb", "/images/sunset.jpg?p=thumb&&&"]),
            (signed, ["/images/sunset.jpg?" + query.replacingOccurrences(of: "w=300", with: "w=%33%30%30"), signed + "&",
                      "/images/sunset.jpg?" + query.split(separator: "&").reversed().joined(separator: "&"), "/images/sunse%74.jpg?" + query]),
        ] {
            let first = try await http.fetch(canonical)
            #expect(first.status == 200 && first.headers["X-Cache-Status"] == "MISS", "\(canonical)")
            let resizes = handler.statistics.resizes
            for spelling in spellings {
                let redirected = try await http.fetch(spelling)
                #expect(redirected.status == 301 && redirected.headers["Location"] == canonical, "\(spelling): \(redirected.status)")
                // Not stored by nginx: each spelling an entry would let a flood push resized images out of the cache.
                let again = try await http.fetch(spelling)
                #expect(again.status == 301 && again.headers["X-Cache-Status"] != "HIT", "\(spelling): \(again.headers["X-Cache-Status"] ?? "-")")
                #expect(try await http.fetch(spelling, method: "HEAD").status == 301)
            }
            #expect(try await http.fetch(canonical).headers["X-Cache-Status"] == "HIT")
            #expect(handler.statistics.resizes == resizes, "no spelling resized")
        }
        await running.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("resizing needs a preset or a signature: unsigned sizes 403, signed 200, presets 200; porter image-url; no key and no presets refuses to start")
    func signedOrPreset() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-sign")
        _ = try await ConcurrentClients.offPool { try SampleImages.write(to: dir.path("www/images")) }
        let (porter, site) = try await FeatureNginxTests.start("""
        [[handlers]]
        verb = "GET,HEAD"
        path = "/images/*"
        handler = "image"
        root = "www/images"
        signing_key = "\(Self.key)"
        presets = { thumb = { w = 200, h = 200, fit = "cover" }, small = { w = 300 } }
        """, in: dir)
        let http = site.client()
        for unsigned in ["/images/sunset.jpg?w=123", "/images/sunset.jpg?w=124&q=31&dpr=2", "/images/sunset.jpg?w=123&sig=AAAA"] {
            #expect(try await http.fetch(unsigned).status == 403, "\(unsigned)")
        }
        let signed = ImageURLSigner(keys: try KeyRing(secrets: ["text:" + Self.key])).signedURL(path: "/images/sunset.jpg", parameters: ImageParameters(width: 123))
        let ok = try await http.fetch(signed)
        #expect(ok.status == 200 && ok.headers["Content-Type"] == "image/jpeg" && !ok.body.isEmpty)
        let thumb = try await http.fetch("/images/sunset.jpg?p=thumb")
        #expect(thumb.status == 200 && thumb.headers["Content-Type"] == "image/jpeg" && !thumb.body.isEmpty)
        #expect(thumb.headers["Cache-Control"] == "public, max-age=3600", "presets are unsigned: the shorter cache lifetime")
        #expect(try await http.fetch("/images/sunset.jpg?p=nope").status == 400)
        #expect(try await http.fetch("/images/sunset.jpg?p=thumb&w=999").status == 400)

        let printed = try await runPorter(["image-url", "--config", dir.path("porter-s.toml"), "/images/sunset.jpg", "--w", "150", "--fmt", "webp"],
                                          in: dir, name: "image-url")
        #expect(printed.status == 0, "\(printed.output)")
        let url = printed.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.hasPrefix("/images/sunset.jpg?") && url.contains("sig="))
        let fromCLI = try await http.fetch(url)
        #expect(fromCLI.status == 200 && fromCLI.headers["Content-Type"] == "image/webp")
        let preset = try await runPorter(["image-url", "--config", dir.path("porter-s.toml"), "/images/sunset.jpg", "--preset", "small"],
                                         in: dir, name: "image-url-preset")
        #expect(preset.output.trimmingCharacters(in: .whitespacesAndNewlines) == "/images/sunset.jpg?p=small")
        try await stopProcess(porter, site)

        // Neither signing_key nor presets nor allow_unsigned: the server refuses to start, saying what to set.
        let bare = try dir.write("""
        listen = "\(dir.path("bare.sock"))"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/images/*"
        handler = "image"
        root = "www/images"
        """, to: "bare.toml")
        let refused = try await runPorter(["serve", "--config", bare], in: dir, name: "bare")
        #expect(refused.status != nil && refused.status != 0)
        #expect(refused.output.contains("keys") && refused.output.contains("presets") && refused.output.contains("allow_unsigned"),
                "\(refused.output)")
    }
}
