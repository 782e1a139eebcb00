import Foundation
import Porter

/// What the trace page shows about one finished request: its outcome and every timed span.
public struct RequestSnapshot: Sendable, Equatable, Codable {
    /// One timed span of the request (from `RequestTrace.Span`).
    public struct Span: Sendable, Equatable, Codable {
        /// The lifecycle event's ASP.NET name, e.g. `AuthenticateRequest`.
        public var event: String
        /// The module's name, `handler` for the handler, or `nil` for the event as a whole.
        public var module: String?
        /// Offset from the start of the request, in nanoseconds.
        public var startNanos: UInt64
        /// Duration in nanoseconds.
        public var durationNanos: UInt64

        /// A span from its parts.
        public init(event: String, module: String?, startNanos: UInt64, durationNanos: UInt64) {
            self.event = event
            self.module = module
            self.startNanos = startNanos
            self.durationNanos = durationNanos
        }

        enum CodingKeys: String, CodingKey {
            case event, module
            case startNanos = "start_ns"
            case durationNanos = "duration_ns"
        }
    }

    /// One `context.trace(_:)` message.
    public struct Message: Sendable, Equatable, Codable {
        /// Offset from the start of the request, in nanoseconds.
        public var offsetNanos: UInt64
        /// The category, e.g. `app`.
        public var category: String
        /// The text.
        public var message: String

        /// A message from its parts.
        public init(offsetNanos: UInt64, category: String, message: String) {
            self.offsetNanos = offsetNanos
            self.category = category
            self.message = message
        }

        enum CodingKeys: String, CodingKey {
            case offsetNanos = "offset_ns"
            case category, message
        }
    }

    /// A number given by the trace log, increasing per recorded request (used in links: `?id=`).
    public var sequence: Int
    /// The request id (nginx's `$request_id` or a generated one).
    public var requestID: String
    /// The W3C trace id of the request's `traceparent` (nginx forwards it as `HTTP_TRACEPARENT`), if it had a valid one.
    public var traceID: String?
    /// The verb.
    public var method: String
    /// The decoded path.
    public var path: String
    /// The raw query string.
    public var query: String
    /// The response status code.
    public var status: Int
    /// The registered handler name, if a handler was mapped.
    public var handler: String?
    /// The handler's type name, if a handler was mapped.
    public var handlerType: String?
    /// The route (path pattern) that matched, if any.
    public var route: String?
    /// The user name; empty when anonymous.
    public var user: String
    /// The client address.
    public var remoteAddress: String
    /// When the request started (wall clock).
    public var startTime: Date
    /// Total time from the start of the request to the snapshot, in nanoseconds.
    public var totalNanos: UInt64
    /// Every span, in the order they finished.
    public var spans: [Span]
    /// Trace messages, in order.
    public var messages: [Message]

    /// A snapshot of `context` taken now; `sequence` is filled in by `TraceLog`.
    public init(context: HTTPContext, now: UInt64 = MonotonicClock.nanoseconds()) {
        let trace = context.trace
        let total = now &- trace.startedAt
        sequence = 0
        requestID = context.requestID
        traceID = context.request.headers["traceparent"].flatMap(TraceParent.init)?.traceID
        method = context.request.method.rawValue
        path = context.request.path
        query = context.request.queryString
        status = context.response.status.code
        handler = context.handler?.name
        handlerType = context.handler?.handler.typeName
        route = context.handler?.pattern
        user = context.user.isAuthenticated ? context.user.name : ""
        remoteAddress = context.request.remoteAddress
        startTime = Date(timeIntervalSinceNow: -Double(total) / 1e9)
        totalNanos = total
        spans = trace.spans.map {
            Span(event: $0.event.description, module: $0.module, startNanos: $0.startNanos, durationNanos: $0.durationNanos)
        }
        messages = trace.messages.map { Message(offsetNanos: $0.offsetNanos, category: $0.category, message: $0.message) }
    }

    enum CodingKeys: String, CodingKey {
        case sequence, method, path, query, status, handler, route, user, spans, messages
        case requestID = "request_id"
        case traceID = "trace_id"
        case handlerType = "handler_type"
        case remoteAddress = "remote_address"
        case startTime = "start_time"
        case totalNanos = "total_ns"
    }
}

/// A W3C Trace Context `traceparent` value: `version-traceid-parentid-flags` (`00-<32 hex>-<16 hex>-<2 hex>`).
public struct TraceParent: Sendable, Equatable {
    /// The trace id (32 lowercase hex digits, not all zero).
    public var traceID: String
    /// The parent span id (16 lowercase hex digits, not all zero).
    public var parentID: String
    /// The trace flags (2 hex digits; `01` = sampled).
    public var flags: String

    /// Parses `value`; `nil` unless it is a valid `traceparent` (version `ff` and all-zero ids are invalid).
    public init?(_ value: String) {
        let parts = value.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return nil }
        func hex(_ s: Substring, _ count: Int) -> Bool {
            s.utf8.count == count && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
        }
        let version = parts[0]
        guard hex(version, 2), version != "ff", hex(parts[1], 32), hex(parts[2], 16), hex(parts[3], 2) else { return nil }
        guard version != "00" || parts.count == 4 else { return nil }
        guard parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" }) else { return nil }
        traceID = String(parts[1])
        parentID = String(parts[2])
        flags = String(parts[3])
    }
}
