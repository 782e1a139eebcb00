import Foundation
import Logging
@testable import PorterHost
import Testing

@Suite("JSON log lines")
struct LoggingTests {
    @Test("every line is one JSON object with the message, level and metadata, whatever the text holds")
    func hostileTextStaysOneObject() throws {
        var handler = JSONLogHandler(label: "porter", metadataProvider: nil)
        handler[metadataKey: "request.id"] = "abc"
        let nasty = "quote \" backslash \\ newline \n tab \t bell \u{7} é 🙂"
        let event = LogEvent(level: .warning, message: "\(nasty)", metadata: ["path": .string(nasty), "n": .stringConvertible(3),
                                                                               "list": .array([.string("a")])],
                             source: "Test", file: #fileID, function: #function, line: #line)
        let line = handler.line(for: event)
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["msg"] as? String == nasty && object["path"] as? String == nasty)
        #expect(object["level"] as? String == "warning" && object["request.id"] as? String == "abc" && object["label"] as? String == "porter")
        #expect((object["ts"] as? String)?.hasSuffix("Z") == true)
    }

    @Test("log_format is validated")
    func format() throws {
        #expect(try ServerConfiguration.parse(toml: "log_format = \"json\"\n", baseDirectory: ".").logFormat == "json")
        #expect(throws: (any Error).self) { try ServerConfiguration.parse(toml: "log_format = \"xml\"\n", baseDirectory: ".") }
    }
}

/// The default text log (attack pass 31: `%0a` in a path, or a newline in a login name, wrote a forged line of its own).
@Suite("Text log lines")
struct TextLogTests {
    func line(_ message: String, _ metadata: Logger.Metadata) -> String {
        let handler = TextLogHandler(label: "porter", metadataProvider: nil)
        return handler.line(for: LogEvent(level: .info, message: "\(message)", metadata: metadata, source: "Porter",
                                          file: #fileID, function: #function, line: #line))
    }

    @Test("what a client sends stays on one line and in one field", arguments: [
        ("/x\n2026-12-04T18:40:00+0000 critical porter: FORGED", "path=\"/x\\n2026-12-04T18:40:00+0000 critical porter: FORGED\""),
        ("evil user=admin\" x", "path=\"evil user=admin\\\" x\""),
        ("a\rb", "path=\"a\\rb\""), ("esc\u{1B}[31m", "path=\"esc\\u{1B}[31m\""), ("c1\u{85}x", "path=\"c1\\u{85}x\""),
        ("ls\u{2028}x", "path=\"ls\\u{2028}x\""), ("rtl\u{202E}gpj.exe", "path=\"rtl\\u{202E}gpj.exe\""), ("i\u{2066}x", "path=\"i\\u{2066}x\""), ("lrm\u{200E}", "path=\"lrm\\u{200E}\""), ("back\\slash", "path=\"back\\\\slash\""), ("", "path=\"\""),
        ("/news.rss", "path=/news.rss"), ("/caf\u{E9}", "path=/caf\u{E9}"),
    ])
    func hostileValues(_ value: String, _ field: String) {
        let text = line("request", ["path": .string(value), "status": .stringConvertible(200)])
        #expect(text.hasSuffix("\n") && text.dropLast().allSatisfy { $0 != "\n" && $0 != "\r" }, "\(text.debugDescription)")
        #expect(text.contains(" porter: " + field + " status=200 [Porter] request\n"), "\(text.debugDescription)")
    }

    @Test("the message is escaped too; the layout is swift-log's stream handler's")
    func message() {
        let text = line("login failed\n2026-12-04T18:31:00+0000 info porter: forged", [:])
        #expect(text.hasSuffix(" info porter: [Porter] login failed\\n2026-12-04T18:31:00+0000 info porter: forged\n"), "\(text.debugDescription)")
        #expect(text.split(separator: " ").first?.count == "2026-12-04T18:31:00+0000".count)
    }
}
