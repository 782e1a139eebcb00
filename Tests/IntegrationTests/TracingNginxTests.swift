import Foundation
import Porter
import PorterDemo
import PorterHost
import PorterOps
import PorterTesting
import Testing

/// Issue 15: the client's `traceparent` and nginx's `$request_id` reach Porter through the shipped nginx site.
@Suite("Tracing through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct TracingNginxTests {
    @Test("traceparent → the trace page's trace id; nginx's $request_id → X-Request-Id, the trace page and the access log")
    func traceparentAndRequestID() async throws {
        let configuration = try ServerConfiguration.parse(toml: """
        [[modules]]
        name = "tracing"
        [[modules]]
        name = "trace"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/trace.axd"
        handler = "trace"
        [[handlers]]
        verb = "GET,HEAD"
        path = "/ping"
        handler = "ping"
        """, baseDirectory: ".")
        let running = try await InProcessSite.start(PorterApplication.porter, configuration)
        let client = running.site.client()
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let ping = try await client.fetch("/ping", headers: ["traceparent": "00-\(traceID)-00f067aa0ba902b7-01"])
        #expect(ping.status == 200)
        let requestID = try #require(ping.headers["X-Request-Id"])
        #expect(requestID.count == 32 && requestID.allSatisfy(\.isHexDigit), "nginx's $request_id, got \(requestID)")
        let hostile = try await client.fetch("/ping", headers: ["traceparent": "00-<script>-01"])
        #expect(hostile.status == 200)

        let page = try await client.fetch("/trace.axd?format=json")
        #expect(page.status == 200)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let listing = try decoder.decode(TraceListing.self, from: Data(page.body))
        let traced = try #require(listing.requests.first { $0.requestID == requestID })
        #expect(traced.traceID == traceID)
        #expect(listing.requests.first { $0.requestID == hostile.headers["X-Request-Id"] }?.traceID == nil)
        let html = try await client.fetch("/trace.axd")
        #expect(html.text.contains(traceID))
        #expect(!html.text.contains("<script>-01"))
        await running.stop()

        let accessLog = (try? String(contentsOfFile: "/var/log/nginx/access.log", encoding: .utf8)) ?? ""
        #expect(accessLog.contains("rid=\(requestID)"), "the site's porter log_format writes $request_id")
    }
}
