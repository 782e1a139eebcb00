public import PorterHost
import Porter
import PorterState

/// Operations: trace.axd, PHP-FPM-style status and ping, Prometheus metrics, and the background work queue.
///
/// With `metrics: .porter` (the default) the first metrics/status handler or metrics module built bootstraps
/// swift-metrics with Prometheus (`PorterMetrics`), so `/metrics` shows every `Counter`/`Timer`/`Gauge` you record.
public struct OpsFeature: PorterFeature {
    /// Who bootstraps swift-metrics.
    public let metrics: MetricsSetup

    /// The feature; `metrics: .external` when you bootstrapped `MetricsSystem` yourself.
    public init(metrics: MetricsSetup = .porter) { self.metrics = metrics }

    public var name: String { "ops" }

    public func register(_ catalog: inout Catalog) {
        let metrics = self.metrics
        catalog.handlers.register("trace", summary: "trace.axd: recent requests with every event's timing as a waterfall (options: local_only, allow_roles)",
                                  edge: AccessPolicy.edge) { options, _ in
            .instance(.sync(try TraceHandler(options: options)))
        }
        catalog.handlers.register("status", summary: "PHP-FPM-style status: text, ?json, ?format=prometheus (options: local_only, allow_roles)",
                                  edge: AccessPolicy.edge) { options, context in
            Self.publishMetrics(metrics, context)
            return .instance(.async(try StatusHandler(options: options, defaultFormat: .text, registry: PorterMetrics.setUp(metrics))))
        }
        catalog.handlers.register("metrics", summary: "Prometheus exposition of the status counters and request durations (options: local_only, allow_roles)",
                                  edge: AccessPolicy.edge) { options, context in
            Self.publishMetrics(metrics, context)
            return .instance(.async(try MetricsHandler(options: options, registry: PorterMetrics.setUp(metrics))))
        }
        catalog.handlers.register("ping", summary: "answers pong (PHP-FPM's ping.path)") { options, _ in
            .instance(.sync(try PingHandler(options: options)))
        }
        catalog.handlers.register("work-status", summary: "GET /work/<id>: a background work item's status as JSON") { options, _ in
            .instance(.async(try WorkStatusHandler(options: options)))
        }
        catalog.modules.register("trace", summary: "records the last N requests with per-event and per-module timings for the trace page") { options, _ in
            try TraceModule(options: options)
        }
        catalog.modules.register("tracing", summary: "one swift-distributed-tracing server span per request (W3C traceparent from nginx), X-Request-Id") { options, _ in
            try TracingModule(options: options)
        }
        catalog.modules.register("metrics", summary: "request counters and duration histograms for the status and metrics pages (recorded through swift-metrics too)") { options, context in
            let module = try MetricsModule(options: options)
            PorterMetrics.setUp(metrics, durationBuckets: module.statistics.snapshot().requestDurations?.bounds)
            Self.publishMetrics(metrics, context)
            return module
        }
        catalog.modules.register("work", summary: "background work queue on SQLite (one host) or PostgreSQL (shared: leases, takeover); per-user quota; purged on a schedule; drained at shutdown") { options, context in
            let module = try BackgroundWorkModule(options: options, pools: PostgresPools.shared(in: context.services))
            for service in module.services { context.run(service) }
            return module
        }
    }

    /// In a worker process of a master (`workers > 0`) where Porter records metrics: runs the `MetricsPublisher`
    /// (once per build), so `/metrics` sums the pool's series.
    static func publishMetrics(_ setup: MetricsSetup, _ context: BuildContext) {
        guard case .porter = setup, MetricsPublisher.isNeeded, context.services[MetricsPublisher.self] == nil else { return }
        let publisher = MetricsPublisher(logger: context.logger)
        context.services.register(publisher)
        context.run(publisher)
    }
}
