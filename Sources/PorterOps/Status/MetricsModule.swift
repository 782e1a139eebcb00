import Porter
import PorterFastCGI

/// Counts every request into `RequestStatistics`: accepted/active at BeginRequest, the outcome (handler, route,
/// status class, duration, slow) at LogRequest, active back down at EndRequest.
///
/// Register it first so its BeginRequest runs before anything that might complete or fail the request.
/// It publishes its statistics as a service (`RequestStatistics`) for `StatusHandler` and `MetricsHandler`.
///
/// Options: `slow_request_seconds` (1.0), `buckets` (histogram upper bounds in seconds).
public struct MetricsModule: HTTPModule {
    /// The counters this module feeds.
    public let statistics: RequestStatistics

    /// A module feeding `statistics`.
    public init(statistics: RequestStatistics = RequestStatistics()) {
        self.statistics = statistics
    }

    /// A module configured from `porter.toml` options (`slow_request_seconds`, `buckets`).
    public init(options: Options) throws {
        let slow = try options.double("slow_request_seconds", default: 1.0)
        guard slow > 0, slow.isFinite else {
            throw ConfigurationError("\(options.origin): slow_request_seconds must be a positive number, got \(slow)")
        }
        var bounds = RequestDurationHistogram.defaultBounds
        if let raw = options.value("buckets") {
            guard let list = raw.array, !list.isEmpty else {
                throw ConfigurationError("\(options.origin): buckets must be a non-empty list of seconds, got \(raw)")
            }
            bounds = []
            for v in list {
                guard let d = v.double, d > 0, d.isFinite else {
                    throw ConfigurationError("\(options.origin): buckets must be positive numbers, got \(v)")
                }
                bounds.append(d)
            }
        }
        self.init(statistics: RequestStatistics(slowThreshold: .nanoseconds(Int64(slow * 1e9)), bounds: bounds))
    }

    public var name: String { "metrics" }

    public func publish(in services: ApplicationServices) { services.register(statistics) }

    /// Marks that BeginRequest counted this request (so EndRequest only undoes that).
    struct CountedRequest: Sendable {}

    public func subscribe(to events: inout ModuleEvents) {
        let stats = statistics
        events.on(.beginRequest) { ctx in
            stats.requestStarted()
            ctx.items[CountedRequest.self] = CountedRequest()
        }
        events.on(.logRequest) { ctx in
            let elapsed = MonotonicClock.nanoseconds() &- ctx.trace.startedAt
            let slow = stats.observe(handler: ctx.handler?.name, route: ctx.handler?.pattern, status: ctx.response.status.code,
                                     duration: .nanoseconds(Int64(clamping: elapsed)))
            // The pool's `slow requests` (on the scoreboard every worker shares).
            if slow { ctx.application.services[TransportStatistics.self]?.countSlowRequest() }
        }
        events.on(.endRequest) { ctx in
            if ctx.items[CountedRequest.self] != nil {
                ctx.items[CountedRequest.self] = nil
                stats.requestEnded()
            }
        }
    }
}
