import Foundation
import Porter
import PorterDemo
import PorterHost
import PorterTesting
import Testing

/// Issue 12, item 8: customErrors configured in porter.toml, through real nginx (the client is local: 127.0.0.1).
@Suite("Edge: customErrors through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct CustomErrorsNginxTests {
    struct Leaky: Error, CustomStringConvertible { var description: String { "connection string user=sa password=hunter2" } }

    /// Sets a request id and a CORS header before any handler runs.
    struct HeaderModule: HTTPModule {
        var name: String { "edge-headers" }
        func subscribe(to events: inout ModuleEvents) {
            events.on(.beginRequest) { ctx in
                ctx.response.headers["X-Request-Id"] = ctx.requestID
                ctx.response.headers["Access-Control-Allow-Origin"] = "*"
            }
        }
    }

    static func start(mode: String) async throws -> (InProcessSite, TemporaryDirectory) {
        let dir = try TemporaryDirectory()
        _ = try dir.write("<!doctype html><title>Not here</title><h1>Custom 404</h1>\n", to: "404.html")
        _ = try dir.write("<!doctype html><h1>Custom 500</h1>\n", to: "500.html")
        let toml = """
        [[modules]]
        name = "errors"
        mode = "\(mode)"
        pages = { 404 = "404.html", 500 = "500.html" }
        """
        var app = PorterApplication.porter
        app.use(HeaderModule())
        app.map("GET", "/missing") { _ in throw HTTPError(.notFound, message: "no such page") }
        app.map("GET", "/boom") { ctx in
            ctx.response.headers["Content-Disposition"] = "attachment; filename=x.csv"
            throw Leaky()
        }
        let configuration = try ServerConfiguration.parse(toml: toml, baseDirectory: dir.path)
        return (try await InProcessSite.start(app, configuration), dir)
    }

    @Test("mode = on: custom 404 and 500 pages with their statuses, module headers kept, nothing leaked")
    func on() async throws {
        let (running, _) = try await Self.start(mode: "on")
        let http = running.site.client(timeout: .seconds(20))
        let missing = try await http.fetch("/missing")
        #expect(missing.status == 404 && missing.text.contains("Custom 404"), "\(missing.status) \(missing.text.prefix(200))")
        #expect(missing.headers["Access-Control-Allow-Origin"] == "*" && missing.headers["X-Request-Id"]?.isEmpty == false)
        let boom = try await http.fetch("/boom")
        #expect(boom.status == 500 && boom.text.contains("Custom 500") && !boom.text.contains("hunter2"))
        #expect(boom.headers["Content-Disposition"] == nil && boom.headers["Access-Control-Allow-Origin"] == "*")
        await running.stop()
    }

    @Test("mode = remote_only: the local client (127.0.0.1 through nginx) sees the details")
    func remoteOnly() async throws {
        let (running, _) = try await Self.start(mode: "remote_only")
        let http = running.site.client(timeout: .seconds(20))
        let boom = try await http.fetch("/boom")
        #expect(boom.status == 500 && boom.text.contains("hunter2") && boom.text.contains("Leaky"), "\(boom.text.prefix(300))")
        #expect(boom.headers["X-Request-Id"]?.isEmpty == false)
        await running.stop()
    }
}
