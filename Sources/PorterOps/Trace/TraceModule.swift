import Porter

/// Records every request into a `TraceLog` for the trace page (ASP.NET's tracing behind `trace.axd`).
///
/// The snapshot is taken at **PreSendRequestContent**, Porter's last event. It is the last point at which the
/// response status is known *and* every earlier event (EndRequest included) has its span: after EndRequest
/// the error responder may still rewrite the status (an EndRequest subscriber that throws), and
/// PreSendRequestHeaders subscribers may still change the head; by PreSendRequestContent the head is final.
/// Only PreSendRequestContent's own whole-event span is missing from the snapshot (it is still running).
///
/// Options: `limit` (requests kept, default 100), `record_trace_page` (false: the trace page does not
/// record itself), `exclude` (path patterns not to record, e.g. `["/ping", "/metrics"]`), `slowlog_timeout`
/// (seconds; PHP-FPM's name: a request still running that long is logged while it runs, see `Slowlog`).
public struct TraceModule: HTTPModule {
    /// The per-request item a handler sets to keep its request out of the trace.
    public struct Excluded: Sendable {
        /// Marks the request as not to be recorded.
        public init() {}
    }

    /// Where snapshots go.
    public let log: TraceLog
    /// Whether requests served by `TraceHandler` are recorded too.
    public let recordTracePage: Bool
    /// Paths never recorded.
    public let exclude: [PathPattern]
    /// Logs requests still running past its timeout (`nil`: off).
    public let slowlog: Slowlog?

    /// A module recording into `log` (and watching for slow requests with `slowlog`).
    public init(log: TraceLog = TraceLog(), recordTracePage: Bool = false, exclude: [PathPattern] = [],
                slowlog: Slowlog? = nil) {
        self.slowlog = slowlog
        self.log = log
        self.recordTracePage = recordTracePage
        self.exclude = exclude
    }

    /// A module configured from `porter.toml` options (`limit`, `record_trace_page`, `exclude`).
    public init(options: Options) throws {
        let limit = try options.int("limit", default: TraceLog.defaultLimit)
        guard (1...10_000).contains(limit) else {
            throw ConfigurationError("\(options.origin): limit must be between 1 and 10000, got \(limit)")
        }
        var patterns: [PathPattern] = []
        for text in try options.strings("exclude", default: []) {
            do { patterns.append(try PathPattern(text)) } catch {
                throw ConfigurationError("\(options.origin): exclude has an invalid path pattern \"\(text)\"")
            }
        }
        var slowlog: Slowlog?
        if options.value("slowlog_timeout") != nil {
            let seconds = try options.double("slowlog_timeout", default: 0)
            guard seconds > 0, seconds.isFinite, seconds <= 86_400 else {
                throw ConfigurationError("\(options.origin): slowlog_timeout must be a number of seconds above 0 (at most 86400), got \(seconds)")
            }
            slowlog = Slowlog(timeout: .nanoseconds(Int64(seconds * 1e9)))
        }
        self.init(log: TraceLog(limit: limit), recordTracePage: try options.bool("record_trace_page", default: false),
                  exclude: patterns, slowlog: slowlog)
    }

    public var name: String { "trace" }

    /// The trace page shows every event's timing.
    public var recordsTimings: Bool { true }

    public func publish(in services: ApplicationServices) { services.register(log) }

    public func subscribe(to events: inout ModuleEvents) {
        let log = self.log
        let recordTracePage = self.recordTracePage
        let exclude = self.exclude
        let slowlog = self.slowlog
        if let slowlog {
            for event in LifecycleEvent.allCases where event != .executeRequestHandler && event != .error
                && event != .preSendRequestContent {
                events.on(event) { ctx in slowlog.entered(event, ctx) }
            }
        }
        events.on(.preSendRequestContent) { ctx in
            slowlog?.finished(ctx)
            if !recordTracePage, ctx.items[Excluded.self] != nil { return }
            if exclude.contains(where: { $0.matches(ctx.request.path) }) { return }
            log.record(RequestSnapshot(context: ctx))
        }
    }
}
