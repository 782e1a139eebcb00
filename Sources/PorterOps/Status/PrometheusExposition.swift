import Foundation
import PorterFastCGI
public import Prometheus

/// Writes a status snapshot in the Prometheus text exposition format (version 0.0.4).
public enum PrometheusExposition {
    /// The `Content-Type` of the output.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The exposition text for `snapshot`, metric names prefixed with `prefix` (e.g. `porter`), followed by
    /// everything in `registry` (what was recorded through swift-metrics; for Porter's own registry in a worker
    /// process, the whole pool's: `PorterMetrics.exposition(of:)`). A family the registry has replaces the
    /// status-derived one of the same name (e.g. `porter_request_duration_seconds` once Porter's timer feeds it).
    public static func render(_ snapshot: ServerStatusSnapshot, prefix: String = "porter",
                              registry: PrometheusCollectorRegistry? = nil) -> String {
        let recorded = registry.map(PorterMetrics.exposition(of:)) ?? ""
        let replaced = Set(recorded.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("# TYPE ") else { return nil }
            return line.dropFirst(7).split(separator: " ").first.map(String.init)
        })
        var out = ""
        // Every sample carries the host (`instance`-style), so scrapes of several hosts add up per host.
        let hostLabel: [(String, String)] = snapshot.host.map { [("host", $0)] } ?? []
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            guard !samples.isEmpty, !replaced.contains("\(prefix)_\(name)") else { return }
            out += "# HELP \(prefix)_\(name) \(escapeHelp(help))\n# TYPE \(prefix)_\(name) \(type)\n"
            for s in samples { out += "\(prefix)_\(name)\(labels(hostLabel + s.labels)) \(s.value)\n" }
        }
        func single(_ name: String, _ type: String, _ help: String, _ value: Int?) {
            if let value { family(name, type, help, [([], String(value))]) }
        }
        if let start = snapshot.startTime {
            family("start_time_seconds", "gauge", "Unix time when the server started.",
                   [([], String(format: "%.3f", start.timeIntervalSince1970))])
        }
        single("requests_accepted_total", "counter", "Requests accepted since start.", snapshot.acceptedRequests)
        single("requests_active", "gauge", "Requests being served now.", snapshot.activeRequests)
        single("requests_max_active", "gauge", "The most requests served at once since start.", snapshot.maxActiveRequests)
        single("requests_slow_total", "counter", "Requests slower than the slow-request threshold since start.", snapshot.slowRequests)
        var threads: [(labels: [(String, String)], value: String)] = []
        if let idle = snapshot.idleThreads { threads.append(([("state", "idle")], String(idle))) }
        if let busy = snapshot.busyThreads { threads.append(([("state", "busy")], String(busy))) }
        family("worker_threads", "gauge", "Worker threads by state.", threads)
        single("worker_threads_total", "gauge", "All worker threads running.", snapshot.totalThreads)
        single("worker_threads_max_reached_total", "counter", "Times all worker threads ran with some blocked in sync work.",
               snapshot.maxThreadsReached)
        single("parked_connections", "gauge", "Kept-alive connections parked without a thread.", snapshot.parkedConnections)
        single("refused_peers_total", "counter", "TCP connections closed at accept: peer not in allowed_peers.", snapshot.refusedPeers)
        single("listen_queue", "gauge", "Connections waiting in the listen backlog.", snapshot.listenQueue)
        single("listen_queue_max", "gauge", "The largest listen backlog seen.", snapshot.maxListenQueue)
        if let w = snapshot.workerProcesses {
            family("worker_processes", "gauge", "Worker processes by state.",
                   [([("state", "active")], String(w.active)), ([("state", "idle")], String(w.idle))])
        }
        family("handler_requests_total", "counter", "Requests served per handler since start.",
               snapshot.handlerRequests.sorted { $0.key < $1.key }.map { ([("handler", $0.key)], String($0.value)) })
        if let h = snapshot.requestDurations, !h.series.isEmpty, !replaced.contains("\(prefix)_request_duration_seconds") {
            let name = "\(prefix)_request_duration_seconds"
            out += "# HELP \(name) Request duration from BeginRequest to LogRequest, per handler, route and status class.\n"
            out += "# TYPE \(name) histogram\n"
            for key in h.series.keys.sorted() {
                let s = h.series[key]!
                let base = hostLabel + [("handler", key.handler), ("route", key.route), ("status_class", key.statusClass)]
                var cumulative = 0
                for (i, bound) in h.bounds.enumerated() {
                    cumulative += s.bucketCounts[i]
                    out += "\(name)_bucket\(labels(base + [("le", PrometheusText.number(bound))])) \(cumulative)\n"
                }
                out += "\(name)_bucket\(labels(base + [("le", "+Inf")])) \(s.count)\n"
                out += "\(name)_sum\(labels(base)) \(PrometheusText.number(s.sum))\n"
                out += "\(name)_count\(labels(base)) \(s.count)\n"
            }
        }
        return out + recorded
    }

    /// Whether `prefix` is a valid metric-name prefix (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
    public static func isValidPrefix(_ prefix: String) -> Bool {
        guard let first = prefix.unicodeScalars.first else { return false }
        func ok(_ c: Unicode.Scalar, digits: Bool) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c == ":" || (digits && c >= "0" && c <= "9")
        }
        return ok(first, digits: false) && prefix.unicodeScalars.allSatisfy { ok($0, digits: true) }
    }

    static func labels(_ pairs: [(String, String)]) -> String {
        guard !pairs.isEmpty else { return "" }
        return "{" + pairs.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
    }

    /// Escapes a label value: backslash, double quote and line feed.
    static func escapeLabel(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Escapes HELP text: backslash and line feed.
    static func escapeHelp(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
