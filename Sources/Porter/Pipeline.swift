import Logging

/// Runs each request through the module events and the mapped handler, in ASP.NET's order.
///
/// The pipeline is compiled once from the modules and the registry. `start(_:)` runs synchronously on the
/// calling (worker) thread as far as it can; it stops at the first async subscriber or async handler and
/// returns a cursor that `resume(_:from:)` continues from in a task. A request with only sync parts never
/// touches Swift concurrency. Sync handlers run on the context's `syncExecutor` (the accepting transport's
/// threads) once the request went async; a context without one runs them inline.
public final class Pipeline: Sendable {
    /// The handler registry used at MapRequestHandler.
    public let registry: HandlerRegistry
    /// The modules, in registration order.
    public let modules: [any HTTPModule]
    /// Whether requests record per-event and per-module spans (a module asked: `HTTPModule.recordsTimings`).
    /// Without that, events nobody subscribed to cost nothing and no clock is read between events.
    public let recordsSpans: Bool

    /// Every event with its begin/end (for span recording), or only the steps that do something.
    let program: Program
    let errorSubscribers: [(module: String, subscriber: EventSubscriber)]

    /// A compiled step list and where its LogRequest part starts.
    struct Program: Sendable {
        let steps: [Step]
        let firstLogStep: Int
        let endRequestStep: Int
    }

    /// Compiles the pipeline.
    public init(registry: HandlerRegistry, modules: [any HTTPModule]) {
        self.registry = registry
        self.modules = modules
        var byEvent: [LifecycleEvent: [(String, EventSubscriber)]] = [:]
        for module in modules {
            var events = ModuleEvents(moduleName: module.name)
            module.subscribe(to: &events)
            for (event, subscriber) in events.subscriptions { byEvent[event, default: []].append((module.name, subscriber)) }
        }
        let detailed = modules.contains { $0.recordsTimings }
        var steps: [Step] = []
        for event in LifecycleEvent.mainSequence + [.preSendRequestHeaders, .preSendRequestContent] {
            let subscribers = byEvent[event] ?? []
            let hasWork = !subscribers.isEmpty || event == .mapRequestHandler || event == .executeRequestHandler
            // An event nobody subscribed to is compiled away, unless spans are recorded (then the trace shows it).
            guard hasWork || detailed else { continue }
            steps.append(.begin(event))
            for (name, subscriber) in subscribers { steps.append(.subscriber(event, name, subscriber)) }
            if event == .mapRequestHandler { steps.append(.map) }
            if event == .executeRequestHandler { steps.append(.execute) }
            if detailed { steps.append(.end(event)) }
        }
        program = Program(steps: steps,
                          firstLogStep: steps.firstIndex { $0.event >= .logRequest } ?? steps.count,
                          endRequestStep: steps.firstIndex { $0.event >= .endRequest } ?? steps.count)
        recordsSpans = detailed
        errorSubscribers = (byEvent[.error] ?? []).map { ($0.0, $0.1) }
    }

    /// Runs the request as far as possible without suspending.
    public func start(_ context: HTTPContext) -> PipelineProgress {
        var cursor = PipelineCursor()
        context.pipeline = self
        if recordsSpans { context.trace.beginRecording() }
        return drive(context, &cursor)
    }

    /// Continues a request that `start(_:)` suspended, until the response is final.
    public func resume(_ context: HTTPContext, from cursor: PipelineCursor) async {
        var cursor = cursor
        while case .suspended = drive(context, &cursor) {
            await runAsyncStep(context, &cursor)
        }
    }

    /// Runs the whole pipeline for `context` (sync part inline, then async if needed).
    public func run(_ context: HTTPContext) async {
        if case .suspended(let cursor) = start(context) { await resume(context, from: cursor) }
    }

    /// Lets every module release its resources (their `shutdown()`), in reverse registration order.
    public func shutdown() async {
        for module in modules.reversed() { await module.shutdown() }
    }

    // MARK: - Driving

    /// Reads the clock only when spans are recorded.
    @inline(__always)
    private func now() -> UInt64 { recordsSpans ? MonotonicClock.nanoseconds() : 0 }

    /// Runs sync steps until the end or until an async step is next.
    func drive(_ ctx: HTTPContext, _ cursor: inout PipelineCursor) -> PipelineProgress {
        let steps = program.steps
        while true {
            if let e = cursor.errorIndex {
                if e < errorSubscribers.count {
                    let (module, subscriber) = errorSubscribers[e]
                    guard case .sync(let body) = subscriber else { return .suspended(cursor) }
                    let start = now()
                    do { try body(ctx) } catch { secondaryError(ctx, error, module: module) }
                    if recordsSpans { ctx.trace.record(.error, module: module, start: start, end: now()) }
                    cursor.errorIndex = e + 1
                    continue
                }
                cursor.errorIndex = nil
                respondToErrors(ctx)
                if cursor.index < program.firstLogStep { cursor.index = program.firstLogStep }
                continue
            }
            guard cursor.index < steps.count else {
                releaseHandler(ctx)
                return .finished
            }
            let step = steps[cursor.index]
            if let target = skipTarget(ctx, cursor, step) {
                // The event in which the request was completed (or ended) still gets its whole-event span.
                if recordsSpans, cursor.openEvent {
                    let end = MonotonicClock.nanoseconds()
                    ctx.trace.record(ctx.currentEvent, module: nil, start: cursor.eventStart, end: end)
                    cursor.openEvent = false
                    cursor.lastEnd = end
                }
                cursor.index = max(cursor.index + 1, target)
                continue
            }
            switch step {
            case .begin(let event):
                ctx.currentEvent = event
                if recordsSpans {
                    // Events are back to back: the previous event's end is this one's start (one clock read each).
                    cursor.eventStart = cursor.lastEnd != 0 ? cursor.lastEnd : MonotonicClock.nanoseconds()
                    cursor.openEvent = true
                }
            case .end(let event):
                let end = MonotonicClock.nanoseconds()
                ctx.trace.record(event, module: nil, start: cursor.eventStart, end: end)
                cursor.lastEnd = end
                cursor.openEvent = false
            case .subscriber(let event, let module, let subscriber):
                cursor.lastEnd = 0
                guard case .sync(let body) = subscriber else { return .suspended(cursor) }
                let start = now()
                do {
                    try body(ctx)
                    if recordsSpans { ctx.trace.record(event, module: module, start: start, end: now()) }
                } catch {
                    if recordsSpans { ctx.trace.record(event, module: module, start: start, end: now()) }
                    fail(ctx, &cursor, error)
                    continue
                }
            case .map:
                cursor.lastEnd = 0
                do { try mapHandler(ctx) } catch { fail(ctx, &cursor, error); continue }
            case .execute:
                cursor.lastEnd = 0
                guard let selected = ctx.handler else { break }
                guard case .sync(let handler) = selected.handler,
                      ctx.syncExecutor.map({ $0.isCurrentThreadWorker }) ?? true else { return .suspended(cursor) }
                let start = now()
                do {
                    try prepareForm(ctx, selected.handler)
                    try handler.processRequest(ctx)
                    if recordsSpans { ctx.trace.record(.executeRequestHandler, module: "handler", start: start, end: now()) }
                } catch {
                    if recordsSpans { ctx.trace.record(.executeRequestHandler, module: "handler", start: start, end: now()) }
                    fail(ctx, &cursor, error)
                    continue
                }
            }
            cursor.index += 1
        }
    }

    /// Where to jump when `step` must be skipped: CompleteRequest and errors skip to LogRequest, Response.End
    /// skips to EndRequest; `nil` runs the step.
    private func skipTarget(_ ctx: HTTPContext, _ cursor: PipelineCursor, _ step: Step) -> Int? {
        if ctx.isResponseEnded && step.event < .endRequest { return program.endRequestStep }
        if (ctx.isCompleted || cursor.skipping) && step.event < .logRequest { return program.firstLogStep }
        return nil
    }

    /// Runs the one async step `drive` stopped at.
    func runAsyncStep(_ ctx: HTTPContext, _ cursor: inout PipelineCursor) async {
        if let e = cursor.errorIndex {
            let (module, subscriber) = errorSubscribers[e]
            let start = now()
            do {
                switch subscriber {
                case .sync(let body): try body(ctx)
                case .async(let body): try await body(ctx)
                }
            } catch { secondaryError(ctx, error, module: module) }
            if recordsSpans { ctx.trace.record(.error, module: module, start: start, end: now()) }
            cursor.errorIndex = e + 1
            return
        }
        let step = program.steps[cursor.index]
        let start = now()
        do {
            switch step {
            case .subscriber(let event, let module, .async(let body)):
                defer { if recordsSpans { ctx.trace.record(event, module: module, start: start, end: now()) } }
                if let scope = ctx.items[AsyncScope.self] { try await scope.run { try await body(ctx) } } else { try await body(ctx) }
            case .execute:
                defer { if recordsSpans { ctx.trace.record(.executeRequestHandler, module: "handler", start: start, end: now()) } }
                switch ctx.handler?.handler {
                case .async(let handler):
                    try prepareForm(ctx, .async(handler))
                    if let scope = ctx.items[AsyncScope.self] {
                        try await scope.run { try await handler.processRequest(ctx) }
                    } else {
                        try await handler.processRequest(ctx)
                    }
                case .sync(let handler):
                    if let executor = ctx.syncExecutor {
                        try await executor.run {
                            try self.prepareForm(ctx, .sync(handler))
                            try handler.processRequest(ctx)
                        }
                    } else {
                        try prepareForm(ctx, .sync(handler))
                        try handler.processRequest(ctx)
                    }
                case nil:
                    break
                }
            default:
                preconditionFailure("drive() suspended at a step that is not async")
            }
            cursor.index += 1
        } catch {
            fail(ctx, &cursor, error)
        }
    }

    /// Records `error`; the first error of a request raises the Error event (once per request, as in ASP.NET),
    /// later ones are recorded for LogRequest/EndRequest to see and answered without raising it again.
    func fail(_ ctx: HTTPContext, _ cursor: inout PipelineCursor, _ error: any Error) {
        if error is ResponseEnd {
            // `throw ResponseEnd()` is Response.End: not an error.
            ctx.endResponse()
            cursor.index += 1
            return
        }
        ctx.addError(error)
        if ctx.currentEvent < .logRequest {
            if recordsSpans, cursor.openEvent {
                ctx.trace.record(ctx.currentEvent, module: nil, start: cursor.eventStart, end: now())
                cursor.openEvent = false
            }
            cursor.skipping = true
        }
        cursor.index += 1
        if cursor.errorRaised {
            respondToErrors(ctx, latest: true)
        } else {
            cursor.errorRaised = true
            cursor.errorIndex = 0
        }
    }

    func mapHandler(_ ctx: HTTPContext) throws {
        guard ctx.handler == nil else { return }
        switch route(ctx).match {
        case .mapped(let mapping):
            ctx.handler = try mapping.resolve(for: ctx)
        case .methodNotAllowed(let allow):
            throw HTTPError(.methodNotAllowed, headers: ["Allow": allow.joined(separator: ", ")])
        case .notFound:
            throw HTTPError(.notFound)
        }
    }

    /// Turns the request's errors into a response unless an Error subscriber cleared them or already wrote one:
    /// the error's own status, or a bare 500. The errors stay visible to LogRequest and EndRequest.
    /// `latest`: answer the last error (one raised after the Error event ran) rather than the first.
    func respondToErrors(_ ctx: HTTPContext, latest: Bool = false) {
        guard let error = latest ? ctx.errors.last : ctx.error, !ctx.isErrorResponseWritten else { return }
        ErrorResponder.respond(to: error, in: ctx, html: false)
        ctx.isErrorResponseWritten = true
    }

    /// Parses a `multipart/form-data` body with the handler's limits before it runs (once per request).
    func prepareForm(_ ctx: HTTPContext, _ handler: AnyHTTPHandler) throws(HTTPError) {
        guard ctx.request.multipart == nil, MultipartFormParser.isMultipartForm(ctx.request.contentType) else { return }
        let limits = handler.formLimits
        guard limits.parsesMultipart else { return }
        try ctx.request.parseMultipartForm(limits: limits)
    }

    func releaseHandler(_ ctx: HTTPContext) {
        ctx.request.closeUploadedFiles()
        if let selected = ctx.handler, let release = selected.release {
            release(selected.handler)
        }
    }

    /// An Error subscriber threw: the error joins the request's errors (ASP.NET's `AllErrors`) and is logged.
    func secondaryError(_ ctx: HTTPContext, _ error: any Error, module: String) {
        ctx.addError(error)
        ctx.logger.error("error in Error event subscriber", metadata: ["module": .string(module), "error": .string("\(error)")])
    }
}

/// How far `Pipeline.start(_:)` got.
public enum PipelineProgress: Sendable {
    /// The response is final.
    case finished
    /// An async step is next; continue with `Pipeline.resume(_:from:)`.
    case suspended(PipelineCursor)
}

/// A position in the compiled pipeline.
public struct PipelineCursor: Sendable {
    var index = 0
    var errorIndex: Int?
    var skipping = false
    /// Whether the Error event was raised for this request (it is raised once).
    var errorRaised = false
    var eventStart: UInt64 = 0
    /// Whether an event began and its whole-event span is not recorded yet.
    var openEvent = false
    /// When the previous step (an event's end) finished, or 0 if something ran since.
    var lastEnd: UInt64 = 0
}

/// Thrown by a handler or module to end the response (ASP.NET's `Response.End`): the pipeline skips to
/// EndRequest; it is not an error.
public struct ResponseEnd: Error, Sendable {
    /// The signal.
    public init() {}
}

/// One compiled step.
enum Step: Sendable {
    case begin(LifecycleEvent)
    case subscriber(LifecycleEvent, String, EventSubscriber)
    case map
    case execute
    case end(LifecycleEvent)

    var event: LifecycleEvent {
        switch self {
        case .begin(let e), .end(let e), .subscriber(let e, _, _): e
        case .map: .mapRequestHandler
        case .execute: .executeRequestHandler
        }
    }
}

extension Pipeline {
    /// Startup checks that would otherwise surface as wrong answers at request time: a handler that declares
    /// session state (ASP.NET's `IRequiresSessionState`) needs a module that provides sessions.
    public func validate() throws(ConfigurationError) {
        guard !modules.contains(where: { $0 is any SessionStateProvider }) else { return }
        for mapping in registry.mappings {
            guard case .instance(let handler) = mapping.source, handler.sessionState != .disabled else { continue }
            throw ConfigurationError("handler \"\(mapping.name)\" (\(mapping.pattern.text)) declares \(handler.sessionState) session state, "
                                     + "but no session module is configured: add [[modules]] name = \"session\" (or use a SessionModule)")
        }
    }
}
