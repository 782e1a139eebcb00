import Foundation
import PorterTesting
import Testing
import Porter
@testable import PorterOps

/// A pipeline with a trace module (and spy + header auth modules) and a few handlers.
func tracePipeline(log: TraceLog, access: AccessPolicy = .localOnly(), extraModules: [any HTTPModule] = []) throws -> Pipeline {
    var registry = HandlerRegistry()
    try registry.add(name: "trace", verbs: "GET", path: "/trace.axd", handler: TraceHandler(log: log, access: access))
    try registry.add(name: "hello", verbs: "GET", path: "/hello", handler: ClosureHandler { ctx in
        ctx.trace("about to answer", category: "demo")
        ctx.response.setText("hi", status: .ok)
    })
    try registry.add(name: "slow", verbs: "GET", path: "/slow", handler: AsyncClosureHandler { ctx in
        try await Task.sleep(for: .milliseconds(20))
        ctx.response.setText("slow", status: .ok)
    })
    try registry.add(name: "boom", verbs: "GET", path: "/boom", handler: ClosureHandler { _ in
        throw HTTPError(.internalServerError, message: "boom")
    })
    try registry.add(name: "echo", verbs: "GET", path: "*", handler: ClosureHandler { ctx in
        ctx.response.setText("echo", status: .ok)
    })
    return Pipeline(registry: registry, modules: [SpyModule(), HeaderAuthModule()] + extraModules + [TraceModule(log: log)])
}

@Suite struct TraceLogTests {
    func snapshot(_ path: String) -> RequestSnapshot {
        let ctx = makeContext(path, application: ApplicationState())
        return RequestSnapshot(context: ctx)
    }

    @Test func keepsTheLastNNewestFirst() {
        let log = TraceLog(limit: 3)
        #expect(log.recent().isEmpty)
        for i in 1...5 { log.record(snapshot("/r\(i)")) }
        #expect(log.recent().map(\.path) == ["/r5", "/r4", "/r3"])
        #expect(log.recent().map(\.sequence) == [5, 4, 3])
        #expect(log.count == 3)
        #expect(log.totalRecorded == 5)
        #expect(log.snapshot(sequence: 4)?.path == "/r4")
        #expect(log.snapshot(sequence: 2) == nil)
        log.clear()
        #expect(log.recent().isEmpty && log.count == 0)
        log.record(snapshot("/r6"))
        #expect(log.recent().map(\.sequence) == [6])
    }

    @Test(arguments: [(0, 1), (1, 1), (7, 7), (50_000, 10_000)])
    func limitIsClamped(requested: Int, effective: Int) {
        #expect(TraceLog(limit: requested).limit == effective)
    }

    @Test func concurrentRecordingKeepsExactlyTheLimit() async {
        let log = TraceLog(limit: 50)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask { for i in 0..<200 { log.record(snapshot("/t\(t)/\(i)")) } }
            }
        }
        #expect(log.totalRecorded == 1600)
        let recent = log.recent()
        #expect(recent.count == 50)
        #expect(recent.map(\.sequence) == Array((1551...1600).reversed()))
    }

    @Test func moduleOptions() throws {
        let m = try TraceModule(options: Options(["limit": .int(5), "exclude": .array([.string("/ping")])]))
        #expect(m.log.limit == 5)
        #expect(m.exclude.map(\.text) == ["/ping"])
        #expect(throws: ConfigurationError.self) { try TraceModule(options: Options(["limit": .int(0)])) }
        #expect(throws: ConfigurationError.self) { try TraceModule(options: Options(["exclude": .string("a*b")])) }
        #expect(throws: ConfigurationError.self) { try TraceHandler(options: Options(["local_only": .string("maybe")])) }
    }
}

@Suite struct TraceRecordingTests {
    @Test func everyLifecycleEventIsInTheSnapshot() async throws {
        let log = TraceLog()
        let app = ApplicationState()
        let pipeline = try tracePipeline(log: log)
        let ctx = await send(pipeline, "/hello?x=1", application: app, headers: ["X-Test-User": "alice"])
        #expect(ctx.response.status == .ok)
        let s = try #require(log.recent().first)
        #expect(s.path == "/hello" && s.query == "x=1" && s.method == "GET" && s.status == 200)
        #expect(s.handler == "hello" && s.route == "/hello" && s.user == "alice" && s.requestID == ctx.requestID)
        let wholeEvents = Set(s.spans.filter { $0.module == nil }.map(\.event))
        let expected = (LifecycleEvent.mainSequence + [.preSendRequestHeaders]).map(\.description)
        for event in expected { #expect(wholeEvents.contains(event), "missing whole-event span \(event)") }
        // PreSendRequestContent is running while the snapshot is taken: its earlier subscribers are in.
        #expect(s.spans.contains { $0.event == "PreSendRequestContent" && $0.module == "spy" })
        #expect(s.spans.contains { $0.event == "ExecuteRequestHandler" && $0.module == "handler" })
        #expect(s.spans.contains { $0.event == "AuthenticateRequest" && $0.module == "headerAuth" })
        for span in s.spans { #expect(span.startNanos + span.durationNanos <= s.totalNanos) }
        #expect(s.messages.map(\.message) == ["about to answer"])
        #expect(s.messages.first?.category == "demo")
    }

    @Test func statusIsFinalIncludingErrors() async throws {
        let log = TraceLog()
        let pipeline = try tracePipeline(log: log)
        await send(pipeline, "/boom", application: ApplicationState())
        #expect(log.recent().first?.status == 500)
        #expect(log.recent().first?.spans.contains { $0.event == "ExecuteRequestHandler" } == true)
    }

    @Test func tracePageDoesNotRecordItselfUnlessAsked() async throws {
        let log = TraceLog()
        let app = ApplicationState()
        let pipeline = try tracePipeline(log: log)
        await send(pipeline, "/hello", application: app)
        await send(pipeline, "/trace.axd", application: app)
        await send(pipeline, "/trace.axd?format=json", application: app)
        #expect(log.totalRecorded == 1)

        var registry = HandlerRegistry()
        try registry.add(name: "trace", path: "/trace.axd", handler: TraceHandler(log: log))
        let recording = Pipeline(registry: registry, modules: [TraceModule(log: log, recordTracePage: true)])
        await send(recording, "/trace.axd", application: app)
        #expect(log.totalRecorded == 2)
    }

    @Test func excludedPathsAreNotRecorded() async throws {
        let log = TraceLog()
        var registry = HandlerRegistry()
        try registry.add(name: "ping", path: "/ping", handler: PingHandler())
        let pipeline = Pipeline(registry: registry, modules: [TraceModule(log: log, exclude: [try PathPattern("/ping")])])
        await send(pipeline, "/ping", application: ApplicationState())
        await send(pipeline, "/other", application: ApplicationState())
        #expect(log.recent().map(\.path) == ["/other"])
        #expect(log.recent().first?.status == 404)
    }
}

@Suite struct TracePageTests {
    @Test func pageListsRowsNewestFirstAndEscapesHostilePaths() async throws {
        let log = TraceLog()
        let app = ApplicationState()
        let pipeline = try tracePipeline(log: log)
        await send(pipeline, "/hello", application: app)
        await send(pipeline, "/%3Cscript%3Ealert(1)%3C/script%3E", application: app, headers: ["X-Test-User": "<b>mallory</b>"])
        await send(pipeline, "/slow", application: app)
        let page = await send(pipeline, "/trace.axd", application: app)
        #expect(page.response.status == .ok)
        #expect(page.response.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(page.response.headers["Content-Security-Policy"]?.contains("default-src 'none'") == true)
        let html = page.bodyText
        #expect(html.components(separatedBy: "<tr class=\"req\"").count - 1 == 3)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<b>mallory"))
        #expect(html.contains("/&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("&lt;b&gt;mallory&lt;/b&gt;"))
        // Newest first.
        let slow = try #require(html.range(of: "<td class=\"path\">/slow</td>"))
        let hello = try #require(html.range(of: "<td class=\"path\">/hello</td>"))
        #expect(slow.lowerBound < hello.lowerBound)
        // One bar per span.
        let spans = log.recent().reduce(0) { $0 + $1.spans.count }
        #expect(html.components(separatedBy: "class=\"bar\"").count - 1 == spans)
        #expect(html.contains("about to answer"))
    }

    @Test func oneRequestById() async throws {
        let log = TraceLog()
        let app = ApplicationState()
        let pipeline = try tracePipeline(log: log)
        await send(pipeline, "/hello", application: app)
        await send(pipeline, "/slow", application: app)
        let page = await send(pipeline, "/trace.axd?id=1", application: app)
        #expect(page.bodyText.components(separatedBy: "<tr class=\"req\"").count - 1 == 1)
        #expect(page.bodyText.contains("/hello"))
        let missing = await send(pipeline, "/trace.axd?id=99", application: app)
        #expect(missing.response.status == .notFound)
        let bad = await send(pipeline, "/trace.axd?format=xml", application: app)
        #expect(bad.response.status == .badRequest)
    }

    @Test func jsonParses() async throws {
        let log = TraceLog(limit: 10)
        let app = ApplicationState()
        let pipeline = try tracePipeline(log: log)
        await send(pipeline, "/hello", application: app)
        await send(pipeline, "/a\"b\\c", application: app)
        let ctx = await send(pipeline, "/trace.axd?format=json", application: app)
        #expect(ctx.response.status == .ok)
        #expect(ctx.response.headers["Content-Type"]?.hasPrefix("application/json") == true)
        let bytes = Data(ctx.response.bufferedBody ?? [])
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let listing = try decoder.decode(TraceListing.self, from: bytes)
        #expect(listing.limit == 10 && listing.recorded == 2)
        #expect(listing.requests.map(\.path) == ["/a\"b\\c", "/hello"])
        #expect(listing.requests[1].spans.contains { $0.event == "BeginRequest" && $0.module == nil })
        let raw = try #require(try JSONSerialization.jsonObject(with: bytes) as? [String: Any])
        let first = try #require((raw["requests"] as? [[String: Any]])?.first)
        #expect(first["request_id"] is String && first["total_ns"] is NSNumber && first["spans"] is [Any])
    }

    @Test(arguments: [
        ("127.0.0.1", [:], 200), ("::1", [:], 200), ("127.3.4.5", [:], 200), ("::ffff:127.0.0.1", [:], 200),
        ("203.0.113.9", [:], 403), ("", [:], 403), ("10.0.0.1", ["X-Test-User": "bob"], 403),
        ("10.0.0.1", ["X-Test-User": "root", "X-Test-Roles": "admin,ops"], 200),
        ("10.0.0.1", ["X-Test-User": "carol"], 200),
    ] as [(String, [String: String], Int)])
    func localOnlyUnlessRoleOrUserAllowed(remote: String, headers: [String: String], expected: Int) async throws {
        let log = TraceLog()
        let access = AccessPolicy.localOnly(allowUsers: ["carol"], allowRoles: ["admin"])
        let pipeline = try tracePipeline(log: log, access: access)
        var h = HTTPHeaders()
        for (k, v) in headers { h[k] = v }
        let ctx = await send(pipeline, "/trace.axd", remote: remote, application: ApplicationState(), headers: h)
        #expect(ctx.response.status.code == expected)
        if expected == 403 { #expect(!ctx.bodyText.contains("Porter trace")) }
    }

    @Test func optionsInitFindsThePublishedLog() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "trace", path: "/trace.axd", handler: try TraceHandler(options: Options(["local_only": .bool(false)])))
        try registry.add(name: "hello", path: "/hello", handler: ClosureHandler { $0.response.setText("hi", status: .ok) })
        let pipeline = Pipeline(registry: registry, modules: [try TraceModule(options: Options(["limit": .int(4)]))])
        let app = ApplicationState()
        await send(pipeline, "/hello", application: app)
        let ctx = await send(pipeline, "/trace.axd?format=json", remote: "198.51.100.7", application: app)
        #expect(ctx.response.status == .ok)
        #expect(ctx.bodyText.contains("\"limit\" : 4"))
        #expect(ctx.bodyText.contains("\"/hello\""))
        // Without a trace module the page says so instead of crashing.
        let bare = Pipeline(registry: registry, modules: [])
        let none = await send(bare, "/trace.axd", application: ApplicationState())
        #expect(none.response.status == .notFound)
    }
}
