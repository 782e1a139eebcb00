import CoreMetrics
public import Prometheus
import Synchronization

/// Who bootstraps swift-metrics (as `PorterApplication.logging` does for swift-log).
public enum MetricsSetup: Sendable {
    /// Porter does, when the ops feature builds its first metrics handler or module: `MetricsSystem` records
    /// into `PorterMetrics.registry`, which `/metrics` serves.
    case porter
    /// You already called `MetricsSystem.bootstrap` (e.g. for OpenTelemetry); Porter records into your backend
    /// and `/metrics` shows only the status-derived series.
    case external
}

/// The process's swift-metrics backend when Porter sets it up: a Prometheus registry served by `/metrics`.
public enum PorterMetrics {
    /// The registry everything recorded through swift-metrics lands in once Porter bootstrapped `MetricsSystem`.
    public static let registry = PrometheusCollectorRegistry()

    /// The label of Porter's request-duration timer (a histogram in the registry).
    public static let requestDurationLabel = "porter_request_duration_seconds"
    /// The label of Porter's requests-in-flight gauge.
    public static let requestsInFlightLabel = "porter_requests_in_flight"

    private static let bootstrapped = Mutex<Bool>(false)

    /// Bootstraps `MetricsSystem` with a `PrometheusMetricsFactory` over `registry` when `setup` is `.porter`
    /// (once per process; later calls change nothing). Returns the registry `/metrics` should serve, if any.
    /// `durationBuckets` (seconds) become the request-duration histogram's buckets when this call bootstraps.
    @discardableResult
    public static func setUp(_ setup: MetricsSetup, durationBuckets: [Double]? = nil) -> PrometheusCollectorRegistry? {
        guard case .porter = setup else { return nil }
        bootstrapped.withLock { done in
            guard !done else { return }
            var factory = PrometheusMetricsFactory(registry: registry)
            if let durationBuckets {
                factory.durationHistogramBuckets[requestDurationLabel] =
                    durationBuckets.sorted().map { .nanoseconds(Int64($0 * 1e9)) }
            }
            MetricsSystem.bootstrap(factory)
            done = true
        }
        return registry
    }

    /// Whether Porter bootstrapped `MetricsSystem` in this process.
    public static var isBootstrapped: Bool { bootstrapped.withLock { $0 } }
}
