/// Logs one line per request at LogRequest: method, path, status, handler, user and duration.
public struct RequestLoggingModule: HTTPModule {
    /// Requests slower than this are logged at warning level as slow.
    public let slowThreshold: Duration

    /// A logging module; `slowThreshold` defaults to one second.
    public init(slowThreshold: Duration = .seconds(1)) { self.slowThreshold = slowThreshold }

    public var name: String { "log" }

    public func subscribe(to events: inout ModuleEvents) {
        let slowNanos = UInt64(slowThreshold.components.seconds) * 1_000_000_000
            + UInt64(slowThreshold.components.attoseconds / 1_000_000_000)
        events.on(.logRequest) { ctx in
            let elapsed = MonotonicClock.nanoseconds() &- ctx.trace.startedAt
            let metadata: Logging.Logger.Metadata = [
                "method": .string(ctx.request.method.rawValue),
                "path": .string(ctx.request.path),
                "status": .stringConvertible(ctx.response.status.code),
                "handler": .string(ctx.handler?.name ?? "-"),
                "user": .string(ctx.user.isAuthenticated ? ctx.user.name : "-"),
                "duration_ms": .string(String(Double(elapsed / 1000) / 1000)),
            ]
            if elapsed >= slowNanos {
                ctx.logger.warning("slow request", metadata: metadata)
            } else {
                ctx.logger.info("request", metadata: metadata)
            }
        }
    }
}

import Logging
