#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Timings recorded while a request runs: each lifecycle event's duration and each module subscriber's share.
public struct RequestTrace: Sendable {
    /// One timed span: an event as a whole (`module == nil`), a module's subscriber, or the handler.
    public struct Span: Sendable, Equatable {
        public var event: LifecycleEvent
        /// The module's name, `"handler"` for the handler, or `nil` for the whole event.
        public var module: String?
        /// Offset from the start of the request, in nanoseconds.
        public var startNanos: UInt64
        /// Duration in nanoseconds.
        public var durationNanos: UInt64
    }

    /// When the request started, in the monotonic clock's nanoseconds.
    public let startedAt: UInt64
    /// Spans in the order they finished.
    public private(set) var spans: [Span] = []
    /// Free-form messages written with `HTTPContext.trace(_:)` (ASP.NET's `Trace.Write`).
    public private(set) var messages: [(offsetNanos: UInt64, category: String, message: String)] = []

    /// Whether spans are recorded for this request (a module asked for timings); otherwise only `startedAt` is known.
    public private(set) var isRecordingSpans = false

    /// A trace starting now.
    public init() {
        startedAt = MonotonicClock.nanoseconds()
    }

    /// Starts recording spans (the pipeline calls this when a module wants timings).
    mutating func beginRecording() {
        isRecordingSpans = true
        spans.reserveCapacity(48)
    }

    /// Records a span that started at `start` (monotonic nanoseconds) and ends now.
    public mutating func record(_ event: LifecycleEvent, module: String?, start: UInt64, end: UInt64) {
        spans.append(Span(event: event, module: module, startNanos: start &- startedAt, durationNanos: end &- start))
    }

    /// Adds a message.
    public mutating func write(category: String, _ message: String) {
        messages.append((MonotonicClock.nanoseconds() &- startedAt, category, message))
    }

    /// The total time spent in `event` (sum of its whole-event spans).
    public func duration(of event: LifecycleEvent) -> UInt64 {
        spans.lazy.filter { $0.event == event && $0.module == nil }.reduce(0) { $0 + $1.durationNanos }
    }
}

/// Reads the monotonic clock cheaply (for per-event timings).
public enum MonotonicClock {
    /// Monotonic time in nanoseconds.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
