import Glibc
import Logging
import Porter
import PorterTesting
import Testing

/// Issue 12, item 8: customErrors (per-status pages, on/off/remote_only) in the one error page module.
@Suite("customErrors: error pages by status and who sees details (pipeline tier)")
struct CustomErrorsTests {
    struct Secret: Error, CustomStringConvertible { var description: String { "db password is hunter2" } }

    /// Sets a request id and CORS header at BeginRequest, as modules do before an error.
    struct HeaderModule: HTTPModule {
        var name: String { "headers" }
        func subscribe(to events: inout ModuleEvents) {
            events.on(.beginRequest) { ctx in
                ctx.response.headers["X-Request-Id"] = "req-1"
                ctx.response.headers["Access-Control-Allow-Origin"] = "https://app.example"
            }
        }
    }

    static func run(_ custom: CustomErrors, _ path: String, remote: String = "203.0.113.5") async throws -> HTTPContext {
        var registry = HandlerRegistry()
        try registry.add(name: "missing", path: "/missing", handler: ClosureHandler { _ in throw HTTPError(.notFound, message: "no such thing") })
        try registry.add(name: "boom", path: "/boom", handler: ClosureHandler { ctx in
            ctx.response.headers["Content-Disposition"] = "attachment; filename=half.csv"
            ctx.response.headers["X-Accel-Redirect"] = "/protected/file"
            ctx.response.write("half a response")
            throw Secret()
        })
        let pipeline = Pipeline(registry: registry, modules: [HeaderModule(), ErrorPageModule(customErrors: custom)])
        let request = HTTPRequest(method: .get, uri: path, remoteAddress: remote)
        let ctx = HTTPContext(request: request, application: ApplicationState(), logger: Logger(label: "test"))
        await pipeline.run(ctx)
        return ctx
    }

    @Test("mode on: the status's own page (static content) for everyone, status kept, module headers kept, the failed response's headers dropped")
    func pagesForEveryone() async throws {
        let custom = CustomErrors(mode: .on, pages: [404: .content(Array("<h1>Lost?</h1>".utf8), contentType: "text/html; charset=utf-8")],
                                  defaultPage: .content(Array("oops".utf8), contentType: "text/plain; charset=utf-8"))
        for remote in ["127.0.0.1", "203.0.113.5"] {
            let missing = try await Self.run(custom, "/missing", remote: remote)
            #expect(missing.response.status == .notFound && missing.response.bodyText == "<h1>Lost?</h1>")
            let boom = try await Self.run(custom, "/boom", remote: remote)
            #expect(boom.response.status == .internalServerError && boom.response.bodyText == "oops")
            #expect(boom.response.contentType == "text/plain; charset=utf-8")
            #expect(boom.response.headers["X-Request-Id"] == "req-1" && boom.response.headers["Access-Control-Allow-Origin"] == "https://app.example")
            #expect(boom.response.headers["Content-Disposition"] == nil && boom.response.headers["X-Accel-Redirect"] == nil)
            #expect(!boom.response.bodyText.contains("hunter2"))
        }
    }

    @Test("remote_only: local clients see the details, remote clients the custom page; off: details for everyone")
    func remoteOnly() async throws {
        let custom = CustomErrors(mode: .remoteOnly, pages: [500: .content(Array("sorry".utf8), contentType: "text/plain")])
        let local = try await Self.run(custom, "/boom", remote: "127.0.0.1")
        #expect(local.response.status == .internalServerError && local.response.bodyText.contains("hunter2")
                && local.response.bodyText.contains("Secret"), "\(local.response.bodyText)")
        let v6 = try await Self.run(custom, "/boom", remote: "::1")
        #expect(v6.response.bodyText.contains("hunter2"))
        let remote = try await Self.run(custom, "/boom")
        #expect(remote.response.bodyText == "sorry")
        let off = try await Self.run(CustomErrors(mode: .off), "/boom")
        #expect(off.response.bodyText.contains("hunter2") && off.response.bodyText.contains("&lt;") == false)
        let on = try await Self.run(CustomErrors(), "/boom", remote: "127.0.0.1")
        #expect(!on.response.bodyText.contains("hunter2") && on.response.bodyText.contains("500 Internal Server Error"), "default: no details")
    }

    @Test("a handler page (sync and async) sees the error and the status; a failing page handler leaves the built-in page")
    func handlerPages() async throws {
        let sync = CustomErrors(pages: [404: .handler(.sync(ClosureHandler { ctx in
            ctx.response.contentType = "text/plain"
            ctx.response.write("page for \(ctx.response.status.code): \((ctx.error as? HTTPError)?.message ?? "-")")
        }))])
        let a = try await Self.run(sync, "/missing")
        #expect(a.response.status == .notFound && a.response.bodyText == "page for 404: no such thing")
        let async = CustomErrors(pages: [404: .handler(.async(AsyncClosureHandler { ctx in
            try await Task.sleep(for: .milliseconds(1))
            ctx.response.write("async page")
        }))])
        let b = try await Self.run(async, "/missing")
        #expect(b.response.status == .notFound && b.response.bodyText == "async page")
        let failing = CustomErrors(pages: [404: .handler(.sync(ClosureHandler { _ in throw Secret() }))])
        let c = try await Self.run(failing, "/missing")
        #expect(c.response.status == .notFound && c.response.bodyText.contains("no such thing") && !c.response.bodyText.contains("hunter2"))
    }

    @Test("configuration: mode, pages and default_page from options; bad values are startup errors")
    func configuration() throws {
        let dir = try TemporaryDirectory()
        _ = try dir.makeDirectory("errors")
        _ = try dir.write("<p>custom 404</p>", to: "errors/404.html")
        _ = try dir.write("something went wrong", to: "errors/all.txt")
        let options = Options(["mode": .string("remote_only"), "pages": .table(["404": .string("errors/404.html")]),
                               "default_page": .string("errors/all.txt")], origin: "modules[0] (errors)")
        let custom = try CustomErrors(options: options, directory: dir.path)
        #expect(custom.mode == .remoteOnly)
        guard case .content(let bytes, let type) = custom.pages[404], case .content(_, let fallbackType) = custom.defaultPage else {
            Issue.record("pages not read"); return
        }
        #expect(String(decoding: bytes, as: UTF8.self) == "<p>custom 404</p>" && type.hasPrefix("text/html") && fallbackType.hasPrefix("text/plain"))
        for (bad, fragment) in [
            (["mode": ConfigValue.string("sometimes")], "mode must be on, off or remote_only"),
            (["pages": .table(["200": .string("errors/404.html")])], "not an error status"),
            (["pages": .table(["404": .string("errors/nope.html")])], "custom error page"),
        ] {
            #expect { try CustomErrors(options: Options(bad, origin: "errors"), directory: dir.path) } throws: { error in
                "\(error)".contains(fragment)
            }
        }
    }
}
