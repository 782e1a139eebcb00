import Porter
public import Tracing

/// One swift-distributed-tracing server span per request (`porter.toml`: `[[modules]] type = "tracing"`).
///
/// At BeginRequest the request headers (nginx forwards `traceparent` as `HTTP_TRACEPARENT`) are handed to the
/// bootstrapped tracer's extractor, and a `.server` span named `METHOD route` starts in that context; every later
/// lifecycle event is a span event; at LogRequest the span gets `http.route`, `porter.handler`, `http.request.method`,
/// `http.response.status_code`, `porter.request_id` (5xx sets the error status) and ends. Async handlers and modules
/// run with it as `ServiceContext.current` (an `AsyncScope`); sync ones read `context.serviceContext`.
/// With no tracer bootstrapped (the `NoOpTracer`) the module does nothing per request but one type check.
/// It also answers `X-Request-Id` (nginx's `$request_id` when forwarded, see `HTTPContext.requestID`).
public struct TracingModule: HTTPModule {
    /// The tracer used; `nil` uses `InstrumentationSystem.tracer` (whatever the program bootstrapped).
    public let tracer: (any Tracer)?
    /// Whether responses carry `X-Request-Id`.
    public let requestIDHeader: Bool

    /// A module tracing into `tracer` (default: the bootstrapped one).
    public init(tracer: (any Tracer)? = nil, requestIDHeader: Bool = true) {
        self.tracer = tracer
        self.requestIDHeader = requestIDHeader
    }

    /// A module configured from `porter.toml` options (`request_id_header`, default true).
    public init(options: Options) throws {
        self.init(requestIDHeader: try options.bool("request_id_header", default: true))
    }

    public var name: String { "tracing" }

    /// The request's span and its context (in `HTTPContext.items`).
    struct ServerSpan: Sendable {
        let span: any Span
    }

    public func subscribe(to events: inout ModuleEvents) {
        let fixed = tracer
        let requestIDHeader = self.requestIDHeader
        if requestIDHeader {
            events.on(.preSendRequestHeaders) { ctx in ctx.response.headers["X-Request-Id"] = ctx.requestID }
        }
        events.on(.beginRequest) { ctx in
            let tracer = fixed ?? InstrumentationSystem.tracer
            if tracer is NoOpTracer { return }
            var context = ServiceContext.current ?? .topLevel
            tracer.extract(ctx.request.headers, into: &context, using: HTTPHeadersExtractor())
            let span = tracer.startSpan("\(ctx.request.method.rawValue) \(ctx.request.path)", context: context, ofKind: .server)
            span.attributes["http.request.method"] = ctx.request.method.rawValue
            span.attributes["url.path"] = ctx.request.path
            span.attributes["porter.request_id"] = ctx.requestID
            ctx.items[ServerSpan.self] = ServerSpan(span: span)
            // Async handlers and modules run with the request's context as `ServiceContext.current`.
            let spanContext = span.context
            ctx.items[AsyncScope.self] = AsyncScope { body in
                try await ServiceContext.$current.withValue(spanContext) { try await body() }
            }
        }
        for event in LifecycleEvent.allCases where event > .beginRequest && event != .executeRequestHandler && event != .error
            && event <= .logRequest {
            events.on(event) { ctx in
                guard let server = ctx.items[ServerSpan.self] else { return }
                if event == .logRequest {
                    let span = server.span
                    span.addEvent(SpanEvent(name: event.description))
                    if let handler = ctx.handler {
                        if let route = handler.pattern {
                            span.operationName = "\(ctx.request.method.rawValue) \(route)"
                            span.attributes["http.route"] = route
                        }
                        span.attributes["porter.handler"] = handler.name
                    }
                    let status = ctx.response.status.code
                    span.attributes["http.response.status_code"] = status
                    if status >= 500 { span.setStatus(SpanStatus(code: .error)) }
                    span.end()
                    ctx.items[ServerSpan.self] = nil
                } else {
                    server.span.addEvent(SpanEvent(name: event.description))
                }
            }
        }
    }
}

extension HTTPContext {
    /// The request's trace context (the tracing module's server span), or the task's current one.
    public var serviceContext: ServiceContext {
        items[TracingModule.ServerSpan.self]?.span.context ?? ServiceContext.current ?? .topLevel
    }
}

/// Reads propagation fields (`traceparent`, `tracestate`, …) from request headers.
public struct HTTPHeadersExtractor: Extractor {
    /// An extractor.
    public init() {}
    public func extract(key: String, from carrier: HTTPHeaders) -> String? { carrier[key] }
}
