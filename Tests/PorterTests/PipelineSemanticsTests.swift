import Logging
@testable import Porter
import PorterTesting
import Synchronization
import Testing

/// A module recording, at LogRequest and EndRequest, how many errors the request had (ASP.NET's `AllErrors`).
struct ErrorWatcher: HTTPModule {
    let recorder = EventRecorder()
    var seen: [String] { recorder.all }
    var name: String { "watcher" }
    func subscribe(to events: inout ModuleEvents) {
        events.on(.logRequest) { [recorder] ctx in recorder.append("log:\(ctx.errors.count)") }
        events.on(.endRequest) { [recorder] ctx in recorder.append("end:\(ctx.errors.count)") }
    }
}

/// A module whose subscriber for `event` throws.
struct Thrower: HTTPModule {
    let event: LifecycleEvent
    var name: String { "thrower-\(event)" }
    func subscribe(to events: inout ModuleEvents) {
        events.on(event) { _ in throw TestFailure.boom }
    }
}

@Suite("Pipeline: errors, Response.End, redirects, Server.Execute/Transfer, timings")
struct PipelineSemanticsTests {
    @Test("the Error event is raised once per request, even when a later event fails too; both errors are kept")
    func errorEventOnce() async throws {
        let recorder = EventRecorder()
        let watcher = ErrorWatcher()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder, fails: true), modules: [
            RecordingModule(name: "a", recorder: recorder), Thrower(event: .endRequest), watcher,
        ])
        let ctx = await client.execute(.get, "/x")
        #expect(recorder.all.filter { $0 == "a:Error" }.count == 1, "an error page or alerting module must not run twice")
        #expect(ctx.errors.count == 2)
        #expect(ctx.response.status == .internalServerError)
        #expect(watcher.seen == ["log:1", "end:2"], "LogRequest and EndRequest see the request's errors")
    }

    @Test("after the error response is produced (by the pipeline or the error page module), LogRequest and EndRequest still see the error",
          arguments: [false, true])
    func errorsVisibleAfterResponse(errorPage: Bool) async throws {
        let recorder = EventRecorder()
        let watcher = ErrorWatcher()
        let modules: [any HTTPModule] = errorPage ? [ErrorPageModule(), watcher] : [watcher]
        let ctx = await PipelineTestClient(registry: try recordingRegistry(recorder, fails: true), modules: modules).execute(.get, "/x")
        #expect(watcher.seen == ["log:1", "end:1"])
        #expect(ctx.response.status == .internalServerError)
        #expect(ctx.response.contentType == (errorPage ? "text/html; charset=utf-8" : "text/plain; charset=utf-8"))
    }

    @Test("an exception in one Error subscriber is recorded in ctx.errors; the others still run")
    func errorSubscriberFailure() async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder, fails: true), modules: [
            Thrower(event: .error), RecordingModule(name: "b", recorder: recorder),
        ])
        let ctx = await client.execute(.get, "/x")
        #expect(ctx.errors.count == 2)
        #expect(recorder.all.contains("b:Error"))
        #expect(ctx.response.status == .internalServerError)
    }

    @Test("a cleared error (Server.ClearError in an Error subscriber) leaves the response to that subscriber")
    func clearedError() async throws {
        let recorder = EventRecorder()
        let fixer = ClosureModule(name: "fixer") { events in
            events.on(.error) { ctx in
                ctx.clearErrors()
                ctx.response.setText("handled\n", status: .ok)
            }
        }
        let ctx = await PipelineTestClient(registry: try recordingRegistry(recorder, fails: true), modules: [fixer]).execute(.get, "/x")
        #expect(ctx.response.status == .ok && ctx.response.bodyText == "handled\n" && ctx.errors.isEmpty)
    }

    @Test("the event in which CompleteRequest was called keeps its whole-event span on the trace", arguments: moduleEvents.filter { $0 < .logRequest })
    func completedEventHasSpan(event: LifecycleEvent) async throws {
        let recorder = EventRecorder()
        let client = PipelineTestClient(registry: try recordingRegistry(recorder), modules: [
            RecordingModule(name: "a", recorder: recorder, completeAt: event), TimingsReader(),
        ])
        let ctx = await client.execute(.get, "/x")
        #expect(ctx.trace.spans.contains { $0.event == event && $0.module == nil }, "\(event) has its span")
        #expect(ctx.trace.spans.contains { $0.event == .logRequest && $0.module == nil })
    }

    @Test("without a module that reads timings, no span is recorded and events nobody subscribed to are compiled away")
    func leanPipeline() async throws {
        let recorder = EventRecorder()
        let seenEvent = EventRecorder()
        let one = ClosureModule(name: "one") { events in
            events.on(.postAcquireRequestState) { ctx in seenEvent.append("\(ctx.currentEvent)") }
        }
        let pipeline = Pipeline(registry: try recordingRegistry(recorder), modules: [one])
        #expect(!pipeline.recordsSpans)
        #expect(pipeline.program.steps.count == 6, "begin+subscriber, begin+map, begin+execute: \(pipeline.program.steps.count)")
        let ctx = await PipelineTestClient(pipeline: pipeline).execute(.get, "/x")
        #expect(ctx.trace.spans.isEmpty && !ctx.trace.isRecordingSpans)
        #expect(seenEvent.all == ["PostAcquireRequestState"])
        #expect(ctx.response.bodyText == "ok")
    }

    @Test("Response.End from a handler skips to EndRequest (LogRequest too, as in ASP.NET); PreSend events still run",
          arguments: [false, true])
    func responseEnd(throwing: Bool) async throws {
        let recorder = EventRecorder()
        var registry = HandlerRegistry()
        try registry.add(name: "end", path: "*", handler: ClosureHandler { ctx in
            ctx.response.write("partial")
            if throwing { throw ResponseEnd() }
            ctx.endResponse()
        })
        let ctx = await PipelineTestClient(registry: registry, modules: [RecordingModule(name: "a", recorder: recorder)]).execute(.get, "/x")
        let seen = recorder.all
        for skipped in ["PostRequestHandlerExecute", "ReleaseRequestState", "UpdateRequestCache", "LogRequest", "PostLogRequest"] {
            #expect(!seen.contains("a:\(skipped)"), "\(skipped) is skipped")
        }
        for ran in ["EndRequest", "PreSendRequestHeaders", "PreSendRequestContent"] { #expect(seen.contains("a:\(ran)")) }
        #expect(ctx.response.status == .ok && ctx.response.bodyText == "partial" && ctx.errors.isEmpty, "Response.End is not an error")
    }

    @Test("a redirect ends the response by default (Response.Redirect(url)); endResponse: false lets the handler go on")
    func redirects() async throws {
        let recorder = EventRecorder()
        var registry = HandlerRegistry()
        try registry.add(name: "go", path: "/go", handler: ClosureHandler { ctx in ctx.redirect(to: "/there") })
        try registry.add(name: "stay", path: "/stay", handler: ClosureHandler { ctx in
            ctx.redirect(to: "/there", endResponse: false)
            ctx.response.headers["X-After"] = "ran"
        })
        let client = PipelineTestClient(registry: registry, modules: [RecordingModule(name: "a", recorder: recorder)])
        let go = await client.execute(.get, "/go")
        #expect(go.response.status == .found && go.response.headers["Location"] == "/there")
        #expect(!recorder.all.contains("a:PostRequestHandlerExecute") && recorder.all.contains("a:EndRequest"))
        recorder.clear()
        let stay = await client.execute(.get, "/stay")
        #expect(stay.response.headers["X-After"] == "ran" && recorder.all.contains("a:PostRequestHandlerExecute"))
    }

    @Test("Server.Execute appends another handler's output; Server.Transfer replaces it and ends the response")
    func executeAndTransfer() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "part", path: "/part", handler: ClosureHandler { $0.response.write("[part]") })
        try registry.add(name: "apart", path: "/async-part", handler: AsyncClosureHandler { $0.response.write("[async]") })
        try registry.add(name: "page", path: "/page", handler: AsyncClosureHandler { ctx in
            ctx.response.write("before ")
            try await ctx.execute("/part")
            try await ctx.execute("/async-part")
            ctx.response.write(" after")
        })
        try registry.add(name: "move", path: "/move", handler: AsyncClosureHandler { ctx in
            ctx.response.write("lost")
            try await ctx.transfer("/part")
        })
        try registry.add(name: "sync", path: "/sync", handler: ClosureHandler { ctx in try ctx.execute("/async-part") })
        try registry.add(name: "nowhere", path: "/nowhere", handler: ClosureHandler { ctx in try ctx.execute("/missing") })
        let client = PipelineTestClient(registry: registry)
        #expect(await client.execute(.get, "/page").response.bodyText == "before [part][async] after")
        let moved = await client.execute(.get, "/move")
        #expect(moved.response.bodyText == "[part]" && moved.errors.isEmpty)
        #expect(await client.execute(.get, "/sync").response.status == .internalServerError)
        #expect(await client.execute(.get, "/nowhere").response.status == .notFound)
    }
}
