public import Logging
import Glibc
import Porter
import Synchronization

/// A swift-log handler writing one JSON object per line to standard error (`log_format = "json"`):
/// `{"ts":…,"level":…,"label":…,"msg":…,"source":…, …metadata}` — request ids and trace ids are metadata.
public struct JSONLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// A handler for `label`.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        JSONLogHandler.writeLine(line(for: event))
    }

    /// The JSON line (with its newline) for `event`.
    func line(for event: LogEvent) -> String {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = "{\"ts\":" + JSONLogHandler.quote(JSONLogHandler.timestamp()) + ",\"level\":\"\(event.level)\",\"label\":"
            + JSONLogHandler.quote(label) + ",\"msg\":" + JSONLogHandler.quote("\(event.message)") + ",\"source\":"
            + JSONLogHandler.quote(event.source)
        for (key, value) in all.sorted(by: { $0.key < $1.key }) where !["ts", "level", "label", "msg", "source"].contains(key) {
            line += "," + JSONLogHandler.quote(key) + ":" + JSONLogHandler.encode(value)
        }
        line += "}\n"
        return line
    }

    static let outputLock = Mutex<Void>(())

    static func writeLine(_ line: String) {
        var bytes = Array(line.utf8)
        outputLock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 { return }
                offset += n
            }
        }
        bytes.removeAll()
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
