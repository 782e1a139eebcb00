public import Logging
import Glibc

/// A swift-log handler writing one line per event to standard error (`log_format = "text"`, the default), in
/// swift-log's `StreamLogHandler` layout (`2026-12-04T18:30:42+0000 info porter: key=value … [source] message`), with
/// what a client sent kept on its line: control characters in the message and in values are escaped (`\n`, `\u{1B}`),
/// and a value holding a space, `"`, `=` or `\` is quoted. A `%0a` in a path or a newline in a login name used to
/// write a line of its own (a forged `critical`), and `user=evil user=admin` read as two fields.
public typealias TextLogHandler = LineLogHandler<TextLogLine>

/// `TextLogHandler`'s line: `timestamp level label: key=value … [source] message`.
public enum TextLogLine: LogLineFormat {
    public static func line(label: String, event: LogEvent, metadata: Logger.Metadata) -> String {
        var line = timestamp() + " \(event.level) " + escaped(label) + ":"
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " " + field(key) + "=" + field(text(value))
        }
        line += " [" + escaped(event.source) + "] " + escaped("\(event.message)") + "\n"
        return line
    }

    /// A metadata value as text (arrays and dictionaries as swift-log prints them).
    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array, .dictionary: value.description
        }
    }

    /// A key or value as one field: quoted (JSON-style) when it holds a space, `"`, `=`, `\` or a control character.
    static func field(_ text: String) -> String {
        guard !text.isEmpty else { return "\"\"" }
        let plain = text.unicodeScalars.allSatisfy { s in s != " " && s != "\"" && s != "=" && s != "\\" && !s.isInvisibleControl }
        return plain ? text : "\"" + escaped(text, quoting: true) + "\""
    }

    /// `text` with invisible controls (`Unicode.Scalar.isInvisibleControl`) escaped; `"` and `\` too when quoting.
    static func escaped(_ text: String, quoting: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars {
            switch s {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\"" where quoting: out += "\\\""
            case "\\" where quoting: out += "\\\\"
            default:
                if s.isInvisibleControl {
                    out += "\\u{" + String(s.value, radix: 16, uppercase: true) + "}"
                } else {
                    out.unicodeScalars.append(s)
                }
            }
        }
        return out
    }

    /// Local time as swift-log's stream handler writes it: `2026-12-04T18:30:42+0000`.
    static func timestamp() -> String {
        var now = time(nil)
        var local = tm()
        localtime_r(&now, &local)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
