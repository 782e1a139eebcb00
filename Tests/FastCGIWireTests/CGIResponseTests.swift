import Testing
@testable import FastCGIWire

/// STDOUT read the way nginx's fastcgi module reads it.
@Suite struct CGIResponseTests {
    struct Example: Sendable, CustomTestStringConvertible {
        var name: String
        var output: String
        var status: Int
        var reason: String?
        var headers: [String: String]
        var body: String
        var testDescription: String { name }
    }

    static let valid: [Example] = [
        Example(name: "Status line with reason", output: "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nmissing",
                status: 404, reason: "Not Found", headers: ["Content-Type": "text/plain"], body: "missing"),
        Example(name: "missing Status is 200", output: "Content-Type: text/html\r\n\r\n<p>hi</p>",
                status: 200, reason: nil, headers: ["content-type": "text/html"], body: "<p>hi</p>"),
        Example(name: "Status without reason", output: "Status: 204\r\n\r\n", status: 204, reason: nil, headers: [:], body: ""),
        Example(name: "lower-case status header", output: "status: 503 Busy\r\n\r\n", status: 503, reason: "Busy",
                headers: [:], body: ""),
        Example(name: "Location without Status is 302", output: "Location: /elsewhere\r\n\r\n", status: 302, reason: nil,
                headers: ["Location": "/elsewhere"], body: ""),
        Example(name: "colons in values", output: "Status: 200 OK\r\nLink: <http://a.example:8080/x>; rel=next\r\nX-Time: 12:34:56\r\n\r\n",
                status: 200, reason: "OK",
                headers: ["Link": "<http://a.example:8080/x>; rel=next", "X-Time": "12:34:56"], body: ""),
        Example(name: "body keeps CRLF and blank lines", output: "Content-Type: text/plain\r\n\r\nline1\r\n\r\nline2\r\n",
                status: 200, reason: nil, headers: ["Content-Type": "text/plain"], body: "line1\r\n\r\nline2\r\n"),
        Example(name: "bare LF line endings", output: "Status: 201 Created\nX-A: 1\n\nbody\n", status: 201, reason: "Created",
                headers: ["X-A": "1"], body: "body\n"),
        Example(name: "whitespace around values", output: "X-Pad:   spaced \t\r\n\r\n", status: 200, reason: nil,
                headers: ["X-Pad": "spaced"], body: ""),
        Example(name: "no headers at all", output: "\r\nraw", status: 200, reason: nil, headers: [:], body: "raw"),
        Example(name: "header-like text in body", output: "\r\nStatus: 500 nope\r\n", status: 200, reason: nil,
                headers: [:], body: "Status: 500 nope\r\n"),
    ]

    @Test(arguments: valid)
    func parses(_ example: Example) throws {
        let response = try CGIResponse(parsing: Array(example.output.utf8))
        #expect(response.status == example.status)
        #expect(response.reason == example.reason)
        #expect(response.headers.count == example.headers.count)
        for (name, value) in example.headers { #expect(response.headers[name] == value) }
        #expect(!response.headers.contains("Status"))
        #expect(response.bodyText == example.body)
    }

    @Test func repeatedHeadersAreKept() throws {
        let response = try CGIResponse(parsing: Array("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n".utf8))
        #expect(response.headers.values(for: "set-cookie") == ["a=1", "b=2"])
    }

    @Test func binaryBodyIsKeptByteForByte() throws {
        let body: [UInt8] = Array(0...255)
        let response = try CGIResponse(parsing: Array("Content-Type: application/octet-stream\r\n\r\n".utf8) + body)
        #expect(response.body == body)
    }

    static let invalid: [(name: String, output: String, error: CGIResponseError)] = [
        ("empty output", "", .missingHeaderTerminator),
        ("headers never end", "Content-Type: text/plain\r\n", .missingHeaderTerminator),
        ("no newline at all", "Status: 200 OK", .missingHeaderTerminator),
        ("line without colon", "Content-Type text/plain\r\n\r\n", .invalidHeaderLine("Content-Type text/plain")),
        ("space in name", "Bad Name: x\r\n\r\n", .invalidHeaderLine("Bad Name: x")),
        ("empty name", ": x\r\n\r\n", .invalidHeaderLine(": x")),
        ("non-numeric status", "Status: abc\r\n\r\n", .invalidStatus("abc")),
        ("two-digit status", "Status: 20\r\n\r\n", .invalidStatus("20")),
        ("status below 100", "Status: 099 Low\r\n\r\n", .invalidStatus("099 Low")),
        ("four-digit status", "Status: 2000\r\n\r\n", .invalidStatus("2000")),
    ]

    @Test(arguments: invalid)
    func rejects(_ example: (name: String, output: String, error: CGIResponseError)) {
        #expect(throws: example.error, "\(example.name)") { try CGIResponse(parsing: Array(example.output.utf8)) }
    }
}
