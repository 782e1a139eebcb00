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
