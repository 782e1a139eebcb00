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
/// record itself), `exclude` (path patterns not to record, e.g. `["/ping", "/metrics"]`).
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

    /// A module recording into `log`.
    public init(log: TraceLog = TraceLog(), recordTracePage: Bool = false, exclude: [PathPattern] = []) {
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
        self.init(log: TraceLog(limit: limit), recordTracePage: try options.bool("record_trace_page", default: false),
                  exclude: patterns)
    }

    public var name: String { "trace" }

    /// The trace page shows every event's timing.
    public var recordsTimings: Bool { true }

    public func publish(in services: ApplicationServices) { services.register(log) }

    public func subscribe(to events: inout ModuleEvents) {
        let log = self.log
        let recordTracePage = self.recordTracePage
        let exclude = self.exclude
        events.on(.preSendRequestContent) { ctx in
            if !recordTracePage, ctx.items[Excluded.self] != nil { return }
            if exclude.contains(where: { $0.matches(ctx.request.path) }) { return }
            log.record(RequestSnapshot(context: ctx))
        }
    }
}
