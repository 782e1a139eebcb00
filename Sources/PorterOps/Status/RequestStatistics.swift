import Foundation
import Synchronization
import Porter

/// Request durations per (handler, route, status class), as cumulative-ready bucket counts.
public struct RequestDurationHistogram: Sendable, Equatable {
    /// The labels of one series.
    public struct Key: Sendable, Hashable, Comparable {
        /// The handler name (`-` when no handler was mapped).
        public var handler: String
        /// The route (path pattern) that matched (`-` when none did).
        public var route: String
        /// `1xx` … `5xx`.
        public var statusClass: String

        /// A key from its parts.
        public init(handler: String, route: String, statusClass: String) {
            self.handler = handler
            self.route = route
            self.statusClass = statusClass
        }

        /// The key of a request answered by `handler` on `route` with `status`.
        public init(handler: String?, route: String?, status: Int) {
            self.init(handler: handler ?? "-", route: route ?? "-", statusClass: "\(min(max(status / 100, 1), 5))xx")
        }

        public static func < (a: Key, b: Key) -> Bool {
            (a.handler, a.route, a.statusClass) < (b.handler, b.route, b.statusClass)
        }
    }

    /// One series: non-cumulative counts per bucket (the last one is `+Inf`), the sum and the count.
    public struct Series: Sendable, Equatable {
        /// Observations per bucket, not cumulative; one more entry than `bounds` (the `+Inf` bucket).
        public var bucketCounts: [Int]
        /// Sum of observed seconds.
        public var sum: Double
        /// Number of observations.
        public var count: Int
    }

    /// Upper bounds of the buckets in seconds, ascending (`+Inf` is implied).
    public var bounds: [Double]
    /// The series by label set.
    public var series: [Key: Series]

    /// The default bounds (Prometheus client defaults).
    public static let defaultBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// An empty histogram with `bounds` (sorted, duplicates and non-finite values dropped).
    public init(bounds: [Double] = RequestDurationHistogram.defaultBounds) {
        self.bounds = Array(Set(bounds.filter { $0.isFinite })).sorted()
        series = [:]
    }

    /// Adds one observation of `seconds` to `key`'s series.
    public mutating func observe(_ seconds: Double, key: Key) {
        let index = bounds.firstIndex { seconds <= $0 } ?? bounds.count
        var s = series[key] ?? Series(bucketCounts: Array(repeating: 0, count: bounds.count + 1), sum: 0, count: 0)
        s.bucketCounts[index] += 1
        s.sum += seconds
        s.count += 1
        series[key] = s
    }

    /// Both histograms' series together (same-key series are added when the bounds agree, else `other` wins).
    public func combined(with other: RequestDurationHistogram) -> RequestDurationHistogram {
        guard bounds == other.bounds else { return other.series.isEmpty ? self : other }
        var out = self
        for (key, s) in other.series {
            if var mine = out.series[key] {
                mine.bucketCounts = zip(mine.bucketCounts, s.bucketCounts).map { $0 + $1 }
                mine.sum += s.sum
                mine.count += s.count
                out.series[key] = mine
            } else {
                out.series[key] = s
            }
        }
        return out
    }
}

/// The pipeline's own request counters, fed by `MetricsModule`: accepted, active, max active, slow requests,
/// per-handler counts and a duration histogram. The in-process `ServerStatusSource`.
public final class RequestStatistics: ServerStatusSource {
    struct State {
        var accepted = 0
        var active = 0
        var maxActive = 0
        var slow = 0
        var perHandler: [String: Int] = [:]
        var durations: RequestDurationHistogram
    }

    /// When these statistics started counting.
    public let startTime: Date
    /// Requests at least this long count as slow.
    public let slowThreshold: Duration
    private let state: Mutex<State>

    /// Empty statistics; `slowThreshold` defaults to 1 s, `bounds` to the Prometheus defaults.
    public init(slowThreshold: Duration = .seconds(1), bounds: [Double] = RequestDurationHistogram.defaultBounds) {
        startTime = Date()
        self.slowThreshold = slowThreshold
        state = Mutex(State(durations: RequestDurationHistogram(bounds: bounds)))
    }

    /// Counts a request that started (BeginRequest): accepted and active go up.
    public func requestStarted() {
        state.withLock { s in
            s.accepted += 1
            s.active += 1
            s.maxActive = max(s.maxActive, s.active)
        }
    }

    /// Counts a request that ended (EndRequest): active goes down.
    public func requestEnded() {
        state.withLock { s in s.active = max(s.active - 1, 0) }
    }

    /// Records a finished request's outcome (LogRequest): its handler, route, status and duration; returns
    /// whether it counted as slow.
    @discardableResult
    public func observe(handler: String?, route: String?, status: Int, duration: Duration) -> Bool {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let key = RequestDurationHistogram.Key(handler: handler, route: route, status: status)
        let slow = duration >= slowThreshold
        state.withLock { s in
            s.perHandler[key.handler, default: 0] += 1
            if slow { s.slow += 1 }
            s.durations.observe(seconds, key: key)
        }
        return slow
    }

    /// Requests being served now.
    public var activeRequests: Int { state.withLock { $0.active } }
    /// Requests accepted since start.
    public var acceptedRequests: Int { state.withLock { $0.accepted } }

    public func statusSnapshot() async -> ServerStatusSnapshot { snapshot() }

    /// The counters as a status snapshot (synchronously).
    public func snapshot() -> ServerStatusSnapshot {
        state.withLock { s in
            ServerStatusSnapshot(startTime: startTime, acceptedRequests: s.accepted, activeRequests: s.active,
                                 maxActiveRequests: s.maxActive, slowRequests: s.slow, processID: getpid(),
                                 handlerRequests: s.perHandler, requestDurations: s.durations)
        }
    }
}
