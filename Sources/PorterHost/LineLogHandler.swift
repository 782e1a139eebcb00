public import Logging
import Glibc
import Synchronization

/// How a log event becomes one line (with its newline): what `JSONLogHandler` and `TextLogHandler` differ in.
public protocol LogLineFormat: Sendable {
    /// The line for `event` from the logger `label`, with every metadata value already merged in (`metadata`).
    static func line(label: String, event: LogEvent, metadata: Logger.Metadata) -> String
}

/// A swift-log handler writing one line per event to standard error in `Format`: the handler's own metadata, then its
/// provider's, then the event's, later values winning. Lines from all threads are written whole (one lock).
public struct LineLogHandler<Format: LogLineFormat>: LogHandler {
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
        LogOutput.writeLine(line(for: event))
    }

    /// The line (with its newline) for `event`.
    func line(for event: LogEvent) -> String {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        return Format.line(label: label, event: event, metadata: all)
    }
}

/// Standard error, written a whole line at a time.
enum LogOutput {
    static let lock = Mutex<Void>(())

    static func writeLine(_ line: String) {
        var bytes = Array(line.utf8)
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 { return }
                offset += n
            }
        }
        bytes.removeAll()
    }
}
