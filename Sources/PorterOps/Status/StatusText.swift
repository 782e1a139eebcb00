import Foundation

/// Writes a status snapshot as PHP-FPM's plain-text status page: aligned `key: value` lines.
public enum StatusText {
    /// The text for `snapshot`; fields nobody reported are left out.
    public static func render(_ s: ServerStatusSnapshot, now: Date = Date()) -> String {
        var lines: [(String, String)] = []
        func add(_ key: String, _ value: (some CustomStringConvertible)?) {
            if let value { lines.append((key, value.description)) }
        }
        add("pool", s.pool)
        add("process manager", s.processManager)
        if let start = s.startTime {
            add("start time", start.formatted(Date.ISO8601FormatStyle()))
            add("start since", Int(now.timeIntervalSince(start).rounded(.down)))
        }
        add("accepted requests", s.acceptedRequests)
        add("listen queue", s.listenQueue)
        add("max listen queue", s.maxListenQueue)
        add("active requests", s.activeRequests)
        add("max active requests", s.maxActiveRequests)
        add("idle threads", s.idleThreads)
        add("busy threads", s.busyThreads)
        add("total threads", s.totalThreads)
        add("parked connections", s.parkedConnections)
        add("slow requests", s.slowRequests)
        if let w = s.workerProcesses {
            add("active processes", w.active)
            add("idle processes", w.idle)
            add("total processes", w.total)
        }
        add("refused peers", s.refusedPeers)
        add("host", s.host)
        add("pid", s.processID)
        for (handler, count) in s.handlerRequests.sorted(by: { $0.key < $1.key }) {
            add("handler \(handler.replacingOccurrences(of: "\n", with: " "))", count)
        }
        let width = (lines.map { $0.0.count }.max() ?? 0) + 1
        return lines.map { key, value in
            (key + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + value
        }.joined(separator: "\n") + "\n"
    }
}
