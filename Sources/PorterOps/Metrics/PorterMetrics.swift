import CoreMetrics
import Logging
import PorterFastCGI
public import Prometheus
public import ServiceLifecycle
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

    /// The text `/metrics` shows for `registry`: for Porter's own registry in a worker process (`workers > 0`), the
    /// whole pool's — this process publishes its series on the `MetricsBoard` first, then every worker's are summed
    /// with the retired workers' counters; otherwise the registry's own.
    public static func exposition(of registry: PrometheusCollectorRegistry) -> String {
        guard registry === self.registry, let pool = MetricsBoard.inherited else { return registry.emitToString() }
        pool.board.publish(registry.emitToString(), slot: pool.slot)
        return pool.board.poolText()
    }
}

/// Publishes a worker process's swift-metrics series on the pool's `MetricsBoard` every `interval` and once more
/// after the server drained, so the worker answering `/metrics` sums the pool (and the master keeps what a worker
/// counted once it exits). Runs only in a worker process whose master set up the board.
public struct MetricsPublisher: Service, CustomStringConvertible {
    /// Its name in service logs.
    public var description: String { "MetricsPublisher" }
    /// Time between publications.
    public let interval: Duration
    /// Where a registry too large for its region is reported (once).
    public let logger: Logger

    /// A publisher of `PorterMetrics.registry` every `interval`.
    public init(interval: Duration = .seconds(1), logger: Logger = Logger(label: "porter.metrics")) {
        self.interval = interval
        self.logger = logger
    }

    /// Whether this process has a board to publish on.
    public static var isNeeded: Bool { MetricsBoard.inherited != nil }

    public func run() async throws {
        guard let pool = MetricsBoard.inherited else { return }
        let board = pool.board, slot = pool.slot
        var warned = false
        while true {
            if !board.publish(PorterMetrics.registry.emitToString(), slot: slot) && !warned {
                warned = true
                logger.warning("metrics too large for the pool's board: /metrics shows this worker's series as last published",
                               metadata: ["capacity": .stringConvertible(board.capacity)])
            }
            // The server drained before the services stop: this last publication has every request's counts.
            if Task.isShuttingDownGracefully || Task.isCancelled { return }
            let interval = self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
