import Foundation
import Porter
import PorterHost
import PorterDemo
import PorterTesting
import Testing

/// The output cache through nginx and the `porter` process: the demo's `/clock` route.
@Suite("Output cache through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct OutputCacheNginxTests {
    @Test("/clock: replayed with Age and edge headers, varied by ?tz=, HEAD from the GET entry, bad tz 400 and never stored")
    func clock() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-ocache")
        // A long duration: the test proves replay by identical microsecond timestamps, never by waiting.
        let (porter, site) = try await FeatureNginxTests.start("""
        [[modules]]
        name = "output-cache"
        max_bytes = "1m"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/clock"
        handler = "clock"
        output_cache = { duration = 300, vary_by_query = ["tz"] }
        """, in: dir)
        let http = site.client()
        let first = try await http.fetch("/clock?tz=UTC")
        #expect(first.status == 200)
        #expect(first.text.hasSuffix("Z\n"))
        #expect(first.headers["Cache-Control"] == "public, max-age=300")
        #expect(first.headers["X-Accel-Expires"] == nil, "nginx consumes X-Accel-Expires")
        #expect(first.headers["Expires"] != nil)
        #expect(first.headers["Age"] == "0")
        let again = try await http.fetch("/clock?tz=UTC&other=1")
        #expect(again.text == first.text, "replayed: same microseconds")
        #expect(again.headers["Age"] != nil)
        let plus2 = try await http.fetch("/clock?tz=%2B02:00")
        #expect(plus2.status == 200 && plus2.text.hasSuffix("+02:00\n"))
        #expect(plus2.text != first.text)
        #expect(try await http.fetch("/clock?tz=%2B02:00").text == plus2.text)
        let head = try await http.fetch("/clock?tz=UTC", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
        #expect(head.headers["Content-Length"] == String(first.body.count))
        for bad in ["Mars", "%2B99:00", "%2B02:0x", String(repeating: "9", count: 5000)] {
            let a = try await http.fetch("/clock?tz=\(bad)")
            #expect(a.status == 400, "tz=\(bad.prefix(20))")
            #expect(a.headers["Cache-Control"] != "public, max-age=300", "errors are not stored")
        }
        #expect(try await http.fetch("/clock?tz=UTC", method: "POST").status == 405)
        porter.signal(SIGTERM)
        _ = await porter.exitStatus()
        site.stop()
    }
}
