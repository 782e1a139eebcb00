public import Logging
import Glibc
import Porter

/// A swift-log handler writing one JSON object per line to standard error (`log_format = "json"`):
/// `{"ts":…,"level":…,"label":…,"msg":…,"source":…, …metadata}` — request ids and trace ids are metadata.
public typealias JSONLogHandler = LineLogHandler<JSONLogLine>

/// `JSONLogHandler`'s line: one JSON object.
public enum JSONLogLine: LogLineFormat {
    public static func line(label: String, event: LogEvent, metadata: Logger.Metadata) -> String {
        var line = "{\"ts\":" + quote(timestamp()) + ",\"level\":\"\(event.level)\",\"label\":"
            + quote(label) + ",\"msg\":" + quote("\(event.message)") + ",\"source\":" + quote(event.source)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) where !["ts", "level", "label", "msg", "source"].contains(key) {
            line += "," + quote(key) + ":" + encode(value)
        }
        line += "}\n"
        return line
    }

    static func encode(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): quote(s)
        case .stringConvertible(let c): quote(c.description)
        case .array(let a): "[" + a.map(encode).joined(separator: ",") + "]"
        case .dictionary(let d): "{" + d.sorted { $0.key < $1.key }.map { quote($0.key) + ":" + encode($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal (the core's one escaper).
    static func quote(_ s: String) -> String { JSONValue.quote(s) }

    /// UTC time as RFC 3339 with milliseconds.
    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var tm = tm()
        var seconds = ts.tv_sec
        gmtime_r(&seconds, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = Int(ts.tv_nsec / 1_000_000)
        let msText = ms < 10 ? "00\(ms)" : (ms < 100 ? "0\(ms)" : "\(ms)")
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)).\(msText)Z"
    }
}
