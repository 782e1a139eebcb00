import Foundation
import InMemoryTracing
import Testing
import Tracing
import Porter
import PorterTesting
@testable import PorterOps

/// The tracing module with an in-process tracer (no global bootstrap: the module is given the tracer).
@Suite struct TracingTests {
    func pipeline(_ tracer: InMemoryTracer) throws -> Pipeline {
        var registry = HandlerRegistry()
        try registry.add(name: "article", verbs: "GET", path: "/articles/*", handler: AsyncClosureHandler { ctx in
            // The request's context reaches the async handler as ServiceContext.current.
            ctx.response.setText(ServiceContext.current?.inMemorySpanContext?.traceID ?? "none", status: .ok)
        })
        try registry.add(name: "boom", verbs: "GET", path: "/boom", handler: ClosureHandler { _ in throw HTTPError(.internalServerError) })
        return Pipeline(registry: registry, modules: [TracingModule(tracer: tracer), TraceModule()])
    }

    @Test func oneServerSpanContinuingTheIncomingTrace() async throws {
        let tracer = InMemoryTracer()
        let app = ApplicationState()
        let ctx = HTTPContext(request: HTTPRequest(uri: "/articles/7", headers: [
            InMemoryTracer.traceIDKey: "trace-from-client", InMemoryTracer.spanIDKey: "client-span",
        ], parameters: ["REQUEST_ID": "nginx-req-1"]), application: app, logger: .init(label: "tracing-test"))
        try await pipeline(tracer).run(ctx)
        #expect(ctx.response.status == .ok)
        #expect(ctx.response.headers["X-Request-Id"] == "nginx-req-1")
        let spans = tracer.finishedSpans
        #expect(spans.count == 1)
        let span = try #require(spans.first)
        #expect(span.kind == .server)
        #expect(span.traceID == "trace-from-client")
        #expect(span.parentSpanID == "client-span")
        #expect(ctx.bodyText == "trace-from-client")
        #expect(span.operationName == "GET /articles/*")
        #expect(span.attributes["http.route"]?.toSpanAttribute() == .string("/articles/*"))
        #expect(span.attributes["porter.handler"]?.toSpanAttribute() == .string("article"))
        #expect(span.attributes["http.response.status_code"]?.toSpanAttribute() == .int64(200))
        #expect(span.attributes["porter.request_id"]?.toSpanAttribute() == .string("nginx-req-1"))
        let names = span.events.map(\.name)
        #expect(names.contains("AuthenticateRequest"))
        #expect(names.contains("PreRequestHandlerExecute"))
        #expect(names.last == "LogRequest")
    }

    @Test func serverErrorsMarkTheSpanAndNoTracerMeansNoSpan() async throws {
        let tracer = InMemoryTracer()
        let app = ApplicationState()
        let ctx = await send(try pipeline(tracer), "/boom", application: app)
        #expect(ctx.response.status == .internalServerError)
        #expect(tracer.finishedSpans.first?.status?.code == .error)
        #expect(ctx.response.headers["X-Request-Id"] == ctx.requestID)
        // Without a tracer (the NoOpTracer) nothing is recorded, the request id is still answered.
        let quiet = Pipeline(registry: HandlerRegistry(), modules: [TracingModule(tracer: NoOpTracer())])
        let plain = await send(quiet, "/nothing", application: app)
        #expect(plain.items[TracingModule.ServerSpan.self] == nil)
        #expect(plain.response.headers["X-Request-Id"] == plain.requestID)
    }

    @Test(arguments: [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", nil),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", nil),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", nil),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", nil),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", nil),
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("garbage", nil), ("", nil), ("00-<script>-x-01", nil),
    ] as [(String, String?)])
    func traceparentParsing(value: String, traceID: String?) {
        #expect(TraceParent(value)?.traceID == traceID)
    }

    @Test func tracePageShowsTheTraceID() async throws {
        let log = TraceLog()
        var registry = HandlerRegistry()
        try registry.add(name: "trace", verbs: "GET", path: "/trace.axd", handler: TraceHandler(log: log))
        try registry.add(name: "hello", verbs: "GET", path: "/hello", handler: ClosureHandler { ctx in ctx.response.setText("hi", status: .ok) })
        let pipeline = Pipeline(registry: registry, modules: [TracingModule(), TraceModule(log: log)])
        let app = ApplicationState()
        await send(pipeline, "/hello", application: app,
                   headers: ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])
        await send(pipeline, "/hello", application: app, headers: ["traceparent": "00-<b>bad</b>-01"])
        #expect(log.recent().map(\.traceID) == [nil, "4bf92f3577b34da6a3ce929d0e0e4736"])
        let page = await send(pipeline, "/trace.axd", application: app)
        #expect(page.bodyText.contains("4bf92f3577b34da6a3ce929d0e0e4736"))
        #expect(!page.bodyText.contains("<b>bad</b>"))
    }
}
