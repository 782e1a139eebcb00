import Foundation
import Logging
import Synchronization
import Porter

/// PHP-FPM's slowlog as a watchdog: a request still running after `timeout` is logged (warning) *while it runs*,
/// with the lifecycle event it last entered, its handler, its spans so far and its request id.
///
/// `TraceModule` feeds it (option `slowlog_timeout`); a background thread checks the requests in flight every
/// `timeout / 4` (at most every second) and logs each slow request once, through the request's logger.
public final class Slowlog: Sendable {
    /// What the watchdog knows about a request in flight (updated at each event the request enters).
    struct Watch: Sendable {
        var requestID: String
        var method: String
        var path: String
        var startedAt: UInt64
        var event: LifecycleEvent
        var handler: String?
        var spans: [RequestTrace.Span]
        var logger: Logger
        var logged = false
    }

    /// Requests running at least this long are logged.
    public let timeout: Duration
    private let timeoutNanos: UInt64
    private let watches = Mutex<[ObjectIdentifier: Watch]>([:])
    private let started = Atomic<Bool>(false)
    private let loggedCount = Atomic<Int>(0)

    /// A slowlog logging requests still running after `timeout`.
    public init(timeout: Duration) {
        self.timeout = timeout
        let c = timeout.components
        timeoutNanos = UInt64(max(c.seconds, 0)) &* 1_000_000_000 &+ UInt64(max(c.attoseconds, 0) / 1_000_000_000)
    }

    /// How many slow requests were logged since start.
    public var logged: Int { loggedCount.load(ordering: .relaxed) }

    /// Notes that `ctx` entered `event` (called on the request's own thread).
    func entered(_ event: LifecycleEvent, _ ctx: HTTPContext) {
        let key = ObjectIdentifier(ctx)
        if event == .beginRequest {
            startWatchdog()
            let watch = Watch(requestID: ctx.requestID, method: ctx.request.method.rawValue, path: ctx.request.path,
                              startedAt: ctx.trace.startedAt, event: event, handler: nil, spans: [], logger: ctx.logger)
            watches.withLock { $0[key] = watch }
            return
        }
        let spans = ctx.trace.spans, handler = ctx.handler?.name
        watches.withLock { w in
            w[key]?.event = event
            w[key]?.spans = spans
            w[key]?.handler = handler
        }
    }

    /// Forgets `ctx` (its last event ran).
    func finished(_ ctx: HTTPContext) {
        _ = watches.withLock { $0.removeValue(forKey: ObjectIdentifier(ctx)) }
    }

    /// Logs every request in flight past the timeout that was not logged yet (the watchdog calls this).
    func check(now: UInt64 = MonotonicClock.nanoseconds()) {
        let due: [Watch] = watches.withLock { w in
            var out: [Watch] = []
            for (key, watch) in w where !watch.logged && now &- watch.startedAt >= timeoutNanos {
                w[key]?.logged = true
                out.append(watch)
            }
            return out
        }
        for watch in due {
            loggedCount.add(1, ordering: .relaxed)
            let elapsed = Double(now &- watch.startedAt) / 1e9
            let spans = watch.spans.map { s in
                "\(s.event)\(s.module.map { "/\($0)" } ?? "")=\(String(format: "%.3f", Double(s.durationNanos) / 1e6))ms"
            }.joined(separator: " ")
            watch.logger.warning("slow request still running", metadata: [
                "request.id": "\(watch.requestID)",
                "slowlog.event": "\(watch.event)",
                "slowlog.handler": "\(watch.handler ?? "-")",
                "slowlog.elapsed_seconds": "\(String(format: "%.3f", elapsed))",
                "slowlog.spans": "\(spans)",
                "http.method": "\(watch.method)",
                "http.path": "\(watch.path)",
            ])
        }
    }

    /// Starts the watchdog thread once; it ends when this slowlog is gone.
    private func startWatchdog() {
        guard started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let interval = min(max(Double(timeoutNanos) / 4e9, 0.001), 1.0)
        Thread.detachNewThread { [weak self] in
            // Optional chaining holds the slowlog only during the check, never while sleeping.
            while self?.tick() ?? false { Thread.sleep(forTimeInterval: interval) }
        }
    }

    private func tick() -> Bool {
        check()
        return true
    }
}
