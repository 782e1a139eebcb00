import Logging
import Porter
import PorterTesting
import Synchronization
import Testing

/// Records which events ran, in order, for every module that uses it.
final class EventRecorder: Sendable {
    private let events = Mutex<[String]>([])
    func append(_ s: String) { events.withLock { $0.append(s) } }
    var all: [String] { events.withLock { $0 } }
    func clear() { events.withLock { $0 = [] } }
}

/// A module that only asks for timings (as a trace page does).
struct TimingsReader: HTTPModule {
    var recordsTimings: Bool { true }
    func subscribe(to events: inout ModuleEvents) {}
}

/// A module that records every event it sees, optionally async, optionally completing or failing at one event.
struct RecordingModule: HTTPModule {
    let name: String
    let recorder: EventRecorder
    var async = false
    var completeAt: LifecycleEvent?
    var failAt: LifecycleEvent?

    func subscribe(to events: inout ModuleEvents) {
        for event in LifecycleEvent.allCases where event != .executeRequestHandler {
            let body: @Sendable (HTTPContext) throws -> Void = { [name, recorder, completeAt, failAt] ctx in
                recorder.append("\(name):\(event)")
                if event == completeAt { ctx.completeRequest() }
                if event == failAt { throw TestFailure.boom }
            }
            if async {
                events.onAsync(event) { ctx in
                    await Task.yield()
                    try body(ctx)
                }
            } else {
                events.on(event, body)
            }
        }
    }
}

enum TestFailure: Error { case boom }

func recordingRegistry(_ recorder: EventRecorder, async: Bool = false, fails: Bool = false) throws -> HandlerRegistry {
    var registry = HandlerRegistry()
    if async {
        try registry.add(name: "h", path: "*", handler: AsyncClosureHandler { ctx in
            await Task.yield()
            recorder.append("handler")
            if fails { throw TestFailure.boom }
            ctx.response.write("ok")
        })
    } else {
        try registry.add(name: "h", path: "*", handler: ClosureHandler { ctx in
            recorder.append("handler")
            if fails { throw TestFailure.boom }
            ctx.response.write("ok")
        })
    }
    return registry
}

let moduleEvents = LifecycleEvent.mainSequence.filter { $0 != .executeRequestHandler } + [.preSendRequestHeaders, .preSendRequestContent]

@Suite("Pipeline: lifecycle events")
struct PipelineEventTests {
    @Test("every event runs once, in ASP.NET order, modules in registration order", arguments: [false, true])
    func order(async: Bool) async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder, async: async), modules: [
            RecordingModule(name: "a", recorder: recorder, async: async),
            RecordingModule(name: "b", recorder: recorder),
        ])
        let ctx = await client.execute(.get, "/x")
        var expected: [String] = []
        for event in moduleEvents {
            if event == .postRequestHandlerExecute { expected.append("handler") }
            expected += ["a:\(event)", "b:\(event)"]
        }
        #expect(recorder.all == expected)
        #expect(ctx.response.status == .ok)
        #expect(ctx.response.bodyText == "ok")
    }

    @Test("CompleteRequest skips to LogRequest; LogRequest, PostLogRequest and EndRequest still run",
          arguments: [LifecycleEvent.beginRequest, .authenticateRequest, .acquireRequestState, .preRequestHandlerExecute])
    func completeRequest(at event: LifecycleEvent) async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder), modules: [
            RecordingModule(name: "a", recorder: recorder, completeAt: event),
            RecordingModule(name: "b", recorder: recorder),
        ])
        _ = await client.execute(.get, "/x")
        let seen = recorder.all
        #expect(!seen.contains("handler"))
        // The event in which CompleteRequest was called finishes for later modules? No: ASP.NET skips the rest.
        #expect(seen.contains("a:\(event)"))
        #expect(!seen.contains("b:\(event)"))
        for e in [LifecycleEvent.logRequest, .postLogRequest, .endRequest, .preSendRequestHeaders] {
            #expect(seen.contains("a:\(e)") && seen.contains("b:\(e)"), "\(e) must still run")
        }
        #expect(!seen.contains("a:\(LifecycleEvent.releaseRequestState)"))
        #expect(!seen.contains("a:error"))
    }

    @Test("a handler error raises Error, becomes a 500 without internals, and LogRequest/EndRequest still run",
          arguments: [false, true])
    func handlerError(async: Bool) async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder, async: async, fails: true), modules: [
            RecordingModule(name: "a", recorder: recorder), ErrorPageModule(),
        ])
        let ctx = await client.execute(.get, "/x")
        let seen = recorder.all
        #expect(seen.contains("handler"))
        #expect(seen.contains("a:Error"))
        #expect(!seen.contains("a:PostRequestHandlerExecute"))
        #expect(!seen.contains("a:ReleaseRequestState"))
        #expect(seen.contains("a:LogRequest") && seen.contains("a:EndRequest"))
        #expect(ctx.response.status == .internalServerError)
        #expect(!ctx.response.bodyText.contains("boom"))
        #expect(!ctx.response.bodyText.contains("TestFailure"))
        #expect(ctx.response.contentType == "text/html; charset=utf-8", "the error page module's page is kept")
        #expect(ctx.error is TestFailure, "LogRequest and EndRequest still see the request's error")
    }

    @Test("a module error in AuthenticateRequest skips the handler and answers 500 (no error module: plain text)")
    func moduleError() async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder), modules: [
            RecordingModule(name: "a", recorder: recorder, async: true, failAt: .authenticateRequest),
        ])
        let ctx = await client.execute(.get, "/x")
        #expect(!recorder.all.contains("handler"))
        #expect(recorder.all.contains("a:Error"))
        #expect(recorder.all.contains("a:EndRequest"))
        #expect(ctx.response.status == .internalServerError)
        #expect(ctx.response.bodyText == "Internal Server Error\n")
    }

    @Test("an error thrown in EndRequest is reported and does not loop")
    func errorInEndRequest() async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder), modules: [
            RecordingModule(name: "a", recorder: recorder, failAt: .endRequest),
        ])
        let ctx = await client.execute(.get, "/x")
        #expect(recorder.all.filter { $0 == "a:EndRequest" }.count == 1)
        #expect(recorder.all.filter { $0 == "a:Error" }.count == 1)
        #expect(recorder.all.contains("a:PreSendRequestContent"))
        #expect(ctx.response.status == .internalServerError)
    }

    @Test("HTTPError keeps its status and message; 404 and 405 + Allow come from the registry")
    func httpErrors() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "teapot", verbs: "GET", path: "/tea", handler: ClosureHandler { _ in
            throw HTTPError(HTTPStatus(code: 418, reasonPhrase: "I'm a teapot"), message: "short and stout")
        })
        try registry.add(name: "post", verbs: "POST,PUT", path: "/form", handler: ClosureHandler { _ in })
        let client = PipelineTestClient(registry: registry)
        let tea = await client.execute(.get, "/tea")
        #expect(tea.response.status.code == 418)
        #expect(tea.response.bodyText == "short and stout\n")
        let missing = await client.execute(.get, "/nothing")
        #expect(missing.response.status == .notFound)
        let wrongVerb = await client.execute(.get, "/form")
        #expect(wrongVerb.response.status == .methodNotAllowed)
        #expect(wrongVerb.response.headers["Allow"] == "POST, PUT")
    }

    @Test("with a module that reads timings, every event's duration is recorded, with per-module and handler spans")
    func traceSpans() async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder),
                                        modules: [RecordingModule(name: "a", recorder: recorder), TimingsReader()])
        let ctx = await client.execute(.get, "/x")
        let whole = Set(ctx.trace.spans.filter { $0.module == nil }.map(\.event))
        for event in LifecycleEvent.mainSequence + [.preSendRequestHeaders, .preSendRequestContent] {
            #expect(whole.contains(event), "\(event) has a span")
        }
        #expect(ctx.trace.spans.contains { $0.module == "a" && $0.event == .beginRequest })
        #expect(ctx.trace.spans.contains { $0.module == "handler" && $0.event == .executeRequestHandler })
    }

    @Test("a sync-only request finishes in start(); an async handler suspends and resumes")
    func syncFastPath() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "sync", path: "/s", handler: ClosureHandler { $0.response.write("s") })
        try registry.add(name: "async", path: "/a", handler: AsyncClosureHandler { $0.response.write("a") })
        let pipeline = Pipeline(registry: registry, modules: [ErrorPageModule()])
        let s = HTTPContext(request: HTTPRequest(uri: "/s"), application: ApplicationState(), logger: Logger(label: "t"))
        guard case .finished = pipeline.start(s) else { Issue.record("sync request suspended"); return }
        let a = HTTPContext(request: HTTPRequest(uri: "/a"), application: ApplicationState(), logger: Logger(label: "t"))
        guard case .suspended(let cursor) = pipeline.start(a) else { Issue.record("async request did not suspend"); return }
        await pipeline.resume(a, from: cursor)
        #expect(a.response.bodyText == "a")
    }

    @Test("remapHandler before MapRequestHandler chooses the handler; after it, it is refused")
    func remap() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "default", path: "*", handler: ClosureHandler { $0.response.write("default") })
        let remapper = ClosureModule(name: "remap") { events in
            events.on(.postResolveRequestCache) { ctx in
                if ctx.request.path == "/special" { try ctx.remapHandler(.sync(ClosureHandler { $0.response.write("special") }), name: "special") }
            }
            events.on(.postMapRequestHandler) { ctx in
                if ctx.request.path == "/late" { try ctx.remapHandler(.sync(ClosureHandler { _ in }), name: "late") }
            }
        }
        let client = PipelineTestClient(registry: registry, modules: [remapper])
        #expect(await client.execute(.get, "/special").response.bodyText == "special")
        #expect(await client.execute(.get, "/other").response.bodyText == "default")
        #expect(await client.execute(.get, "/late").response.status == .internalServerError)
    }
}
