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

    let steps: [Step]
    let errorSubscribers: [(module: String, subscriber: EventSubscriber)]
    let firstLogStep: Int

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
        var steps: [Step] = []
        for event in LifecycleEvent.mainSequence + [.preSendRequestHeaders, .preSendRequestContent] {
            steps.append(.begin(event))
            for (name, subscriber) in byEvent[event] ?? [] { steps.append(.subscriber(event, name, subscriber)) }
            if event == .mapRequestHandler { steps.append(.map) }
            if event == .executeRequestHandler { steps.append(.execute) }
            steps.append(.end(event))
        }
        self.steps = steps
        self.errorSubscribers = (byEvent[.error] ?? []).map { ($0.0, $0.1) }
        self.firstLogStep = steps.firstIndex { $0.event == .logRequest }!
    }

    /// Runs the request as far as possible without suspending.
    public func start(_ context: HTTPContext) -> PipelineProgress {
        var cursor = PipelineCursor()
        return drive(context, &cursor, canSuspend: false)
    }

    /// Continues a request that `start(_:)` suspended, until the response is final.
    public func resume(_ context: HTTPContext, from cursor: PipelineCursor) async {
        var cursor = cursor
        while case .suspended = drive(context, &cursor, canSuspend: false) {
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

    /// Runs sync steps until the end or until an async step is next.
    func drive(_ ctx: HTTPContext, _ cursor: inout PipelineCursor, canSuspend: Bool) -> PipelineProgress {
        while true {
            if let e = cursor.errorIndex {
                if e < errorSubscribers.count {
                    let (module, subscriber) = errorSubscribers[e]
                    guard case .sync(let body) = subscriber else { return .suspended(cursor) }
                    let start = MonotonicClock.nanoseconds()
                    do { try body(ctx) } catch { logSecondaryError(ctx, error, module: module) }
                    ctx.trace.record(.error, module: module, start: start, end: MonotonicClock.nanoseconds())
                    cursor.errorIndex = e + 1
                    continue
                }
                cursor.errorIndex = nil
                finishErrors(ctx)
                if cursor.index < firstLogStep { cursor.index = firstLogStep }
                continue
            }
            guard cursor.index < steps.count else {
                releaseHandler(ctx)
                return .finished
            }
            let step = steps[cursor.index]
            if (ctx.isCompleted || cursor.skipping) && step.event < .logRequest {
                cursor.index = max(cursor.index + 1, ctx.isCompleted || cursor.skipping ? firstLogStep : 0)
                continue
            }
            if case .begin = step {} else if case .end = step {} else { cursor.lastEnd = 0 }
            switch step {
            case .begin(let event):
                ctx.currentEvent = event
                // Events are back to back: the previous event's end is this one's start (one clock read each).
                cursor.eventStart = cursor.lastEnd != 0 ? cursor.lastEnd : MonotonicClock.nanoseconds()
            case .end(let event):
                let end = MonotonicClock.nanoseconds()
                ctx.trace.record(event, module: nil, start: cursor.eventStart, end: end)
                cursor.lastEnd = end
            case .subscriber(let event, let module, let subscriber):
                guard case .sync(let body) = subscriber else { return .suspended(cursor) }
                let start = MonotonicClock.nanoseconds()
                do {
                    try body(ctx)
                    ctx.trace.record(event, module: module, start: start, end: MonotonicClock.nanoseconds())
                } catch {
                    ctx.trace.record(event, module: module, start: start, end: MonotonicClock.nanoseconds())
                    fail(ctx, &cursor, error)
                    continue
                }
            case .map:
                do { try mapHandler(ctx) } catch { fail(ctx, &cursor, error); continue }
            case .execute:
                guard let selected = ctx.handler else { break }
                guard case .sync(let handler) = selected.handler,
                      ctx.syncExecutor.map({ $0.isCurrentThreadWorker }) ?? true else { return .suspended(cursor) }
                let start = MonotonicClock.nanoseconds()
                do {
                    try handler.processRequest(ctx)
                    ctx.trace.record(.executeRequestHandler, module: "handler", start: start, end: MonotonicClock.nanoseconds())
                } catch {
                    ctx.trace.record(.executeRequestHandler, module: "handler", start: start, end: MonotonicClock.nanoseconds())
                    fail(ctx, &cursor, error)
                    continue
                }
            }
            cursor.index += 1
        }
    }

    /// Runs the one async step `drive` stopped at.
    func runAsyncStep(_ ctx: HTTPContext, _ cursor: inout PipelineCursor) async {
        if let e = cursor.errorIndex {
            let (module, subscriber) = errorSubscribers[e]
            let start = MonotonicClock.nanoseconds()
            do {
                switch subscriber {
                case .sync(let body): try body(ctx)
                case .async(let body): try await body(ctx)
                }
            } catch { logSecondaryError(ctx, error, module: module) }
            ctx.trace.record(.error, module: module, start: start, end: MonotonicClock.nanoseconds())
            cursor.errorIndex = e + 1
            return
        }
        let step = steps[cursor.index]
        let start = MonotonicClock.nanoseconds()
        do {
            switch step {
            case .subscriber(let event, let module, .async(let body)):
                defer { ctx.trace.record(event, module: module, start: start, end: MonotonicClock.nanoseconds()) }
                try await body(ctx)
            case .execute:
                defer { ctx.trace.record(.executeRequestHandler, module: "handler", start: start, end: MonotonicClock.nanoseconds()) }
                switch ctx.handler?.handler {
                case .async(let handler):
                    try await handler.processRequest(ctx)
                case .sync(let handler):
                    if let executor = ctx.syncExecutor {
                        try await executor.run { try handler.processRequest(ctx) }
                    } else {
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

    func fail(_ ctx: HTTPContext, _ cursor: inout PipelineCursor, _ error: any Error) {
        ctx.addError(error)
        if ctx.currentEvent < .logRequest {
            ctx.trace.record(ctx.currentEvent, module: nil, start: cursor.eventStart, end: MonotonicClock.nanoseconds())
            cursor.skipping = true
        }
        cursor.index += 1
        cursor.errorIndex = 0
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

    /// Turns errors no Error subscriber cleared into a response: the error's own status, or a bare 500.
    func finishErrors(_ ctx: HTTPContext) {
        guard let error = ctx.error else { return }
        ErrorResponder.respond(to: error, in: ctx, html: false)
        ctx.clearErrors()
    }

    func releaseHandler(_ ctx: HTTPContext) {
        if let selected = ctx.handler, let release = selected.release {
            release(selected.handler)
        }
    }

    func logSecondaryError(_ ctx: HTTPContext, _ error: any Error, module: String) {
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
    var eventStart: UInt64 = 0
    /// When the previous step (an event's end) finished, or 0 if something ran since.
    var lastEnd: UInt64 = 0
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
