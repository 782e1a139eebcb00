import Porter
import PorterFastCGI
import CoreMetrics

/// Counts every request into `RequestStatistics`: accepted/active at BeginRequest, the outcome (handler, route,
/// status class, duration, slow) at LogRequest, active back down at EndRequest.
///
/// Register it first so its BeginRequest runs before anything that might complete or fail the request.
/// It publishes its statistics as a service (`RequestStatistics`) for `StatusHandler` and `MetricsHandler`.
///
/// With `recordsMetrics` it also records through swift-metrics (whatever backend is bootstrapped; Porter's
/// Prometheus registry by default, see `PorterMetrics`): the `porter_request_duration_seconds` timer per handler,
/// route and status class, and the `porter_requests_in_flight` meter.
///
/// Options: `slow_request_seconds` (1.0), `buckets` (histogram upper bounds in seconds).
public struct MetricsModule: HTTPModule {
    /// The counters this module feeds.
    public let statistics: RequestStatistics
    /// Whether requests are also recorded through swift-metrics.
    public let recordsMetrics: Bool

    /// A module feeding `statistics` (and swift-metrics when `recordsMetrics`).
    public init(statistics: RequestStatistics = RequestStatistics(), recordsMetrics: Bool = false) {
        self.statistics = statistics
        self.recordsMetrics = recordsMetrics
    }

    /// A module configured from `porter.toml` options (`slow_request_seconds`, `buckets`).
    public init(options: Options, recordsMetrics: Bool = true) throws {
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
        self.init(statistics: RequestStatistics(slowThreshold: .nanoseconds(Int64(slow * 1e9)), bounds: bounds),
                  recordsMetrics: recordsMetrics)
    }

    public var name: String { "metrics" }

    public func publish(in services: ApplicationServices) { services.register(statistics) }

    /// Marks that BeginRequest counted this request (so EndRequest only undoes that).
    struct CountedRequest: Sendable {}

    public func subscribe(to events: inout ModuleEvents) {
        let stats = statistics
        let inFlight = recordsMetrics ? Meter(label: PorterMetrics.requestsInFlightLabel) : nil
        let records = recordsMetrics
        events.on(.beginRequest) { ctx in
            stats.requestStarted()
            inFlight?.increment()
            ctx.items[CountedRequest.self] = CountedRequest()
        }
        events.on(.logRequest) { ctx in
            let elapsed = Int64(clamping: MonotonicClock.nanoseconds() &- ctx.trace.startedAt)
            let status = ctx.response.status.code
            let slow = stats.observe(handler: ctx.handler?.name, route: ctx.handler?.pattern, status: status,
                                     duration: .nanoseconds(elapsed))
            // The pool's `slow requests` (on the scoreboard every worker shares).
            if slow { ctx.application.services[TransportStatistics.self]?.countSlowRequest() }
            if records {
                let key = RequestDurationHistogram.Key(handler: ctx.handler?.name, route: ctx.handler?.pattern, status: status)
                Timer(label: PorterMetrics.requestDurationLabel,
                      dimensions: [("handler", key.handler), ("route", key.route), ("status_class", key.statusClass)])
                    .recordNanoseconds(elapsed)
            }
        }
        events.on(.endRequest) { ctx in
            if ctx.items[CountedRequest.self] != nil {
                ctx.items[CountedRequest.self] = nil
                stats.requestEnded()
                inFlight?.decrement()
            }
        }
    }
}
