import Foundation
import PorterFastCGI
import Glibc

/// Writes a status snapshot as PHP-FPM's plain-text status page: aligned `key: value` lines.
public enum StatusText {
    /// The text for `snapshot`; fields nobody reported are left out.
    public static func render(_ s: ServerStatusSnapshot, now: Date = Date()) -> String {
        var lines: [(String, String)] = []
        func add(_ key: String, _ value: (some CustomStringConvertible)?) {
            if let value { lines.append((key, value.description)) }
        }
        // PHP-FPM's fields, names and order first.
        add("pool", s.pool)
        add("process manager", s.processManager)
        if let start = s.startTime {
            add("start time", phpTime(start))
            add("start since", Int(now.timeIntervalSince(start).rounded(.down)))
        }
        add("accepted conn", s.acceptedRequests)
        add("listen queue", s.listenQueue)
        add("max listen queue", s.maxListenQueue)
        add("listen queue len", s.listenQueueLength)
        if let w = s.workerProcesses {
            add("idle processes", w.idle)
            add("active processes", w.active)
            add("total processes", w.total)
        }
        add("max active processes", s.maxActiveProcesses)
        add("max children reached", s.maxChildrenReached)
        add("slow requests", s.slowRequests)
        // Porter's own (this process's).
        add("active requests", s.activeRequests)
        add("max active requests", s.maxActiveRequests)
        add("idle threads", s.idleThreads)
        add("busy threads", s.busyThreads)
        add("total threads", s.totalThreads)
        add("max threads reached", s.maxThreadsReached)
        add("parked connections", s.parkedConnections)
        add("refused peers", s.refusedPeers)
        add("host", s.host)
        add("pid", s.processID)
        for (handler, count) in s.handlerRequests.sorted(by: { $0.key < $1.key }) {
            add("handler \(handler.replacingOccurrences(of: "\n", with: " "))", count)
        }
        var out = block(lines)
        for p in s.processes ?? [] {
            let start = Date(timeIntervalSince1970: Double(p.startTime))
            out += "\n************************\n" + block([
                ("pid", "\(p.pid)"), ("state", p.state), ("start time", phpTime(start)),
                ("start since", "\(max(0, Int(now.timeIntervalSince(start).rounded(.down))))"), ("requests", "\(p.requests)"),
                ("request duration", "\(p.requestDurationMicros)"), ("request method", p.requestMethod),
                ("request URI", p.requestURI), ("content length", "\(p.contentLength)"), ("user", "-"), ("script", "-"),
                ("active requests", "\(p.activeRequests)"),
            ].map { ($0.0, $0.1.replacingOccurrences(of: "\n", with: " ")) })
        }
        return out
    }

    /// `key:` padded so values line up (PHP-FPM pads to its longest key, `max active processes:`).
    static func block(_ lines: [(String, String)]) -> String {
        let width = max(lines.map { $0.0.count }.max() ?? 0, "max active processes".count) + 1
        return lines.map { key, value in
            (key + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + value
        }.joined(separator: "\n") + "\n"
    }

    /// PHP-FPM's text time format, `%d/%b/%Y:%H:%M:%S %z` (UTC here).
    static func phpTime(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%d/%b/%Y:%H:%M:%S +0000", &parts)
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
