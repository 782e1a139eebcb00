import Porter
import Testing
@testable import FastCGIWire

/// The encoder (`HTTPResponse.cgiHead`) and the parser (`CGIResponse(parsing:)`) of the CGI response format.
@Suite struct CGIResponseHeadTests {
    struct Example: Sendable, CustomTestStringConvertible {
        var name: String
        var response: HTTPResponse
        var body: [UInt8]
        /// What the parser must see besides `Status`.
        var headers: [(String, String)]
        var testDescription: String { name }
    }

    static func response(_ status: HTTPStatus = .ok, _ headers: HTTPHeaders = [:], cookies: [SetCookie] = []) -> HTTPResponse {
        var response = HTTPResponse()
        response.status = status
        response.headers = headers
        response.cookies = cookies
        return response
    }

    static let examples: [Example] = [
        Example(name: "text", response: response(.ok, ["Content-Type": "text/plain"]), body: Array("hello".utf8),
                headers: [("Content-Type", "text/plain"), ("Content-Length", "5")]),
        Example(name: "repeated headers and cookies", response: response(.created, ["Link": "</a>", "Link": "</b>"],
                                                                       cookies: [SetCookie(name: "a", value: "1"), SetCookie(name: "b", value: "2", maxAge: 0)]),
                body: [1, 2],
                headers: [("Link", "</a>"), ("Link", "</b>"), ("Set-Cookie", "a=1; Path=/; HttpOnly; SameSite=Lax"),
                          ("Set-Cookie", "b=2; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
                          ("Content-Type", "application/octet-stream"), ("Content-Length", "2")]),
        Example(name: "304 carries neither Content-Type nor Content-Length", response: response(.notModified, ["ETag": "\"x\""]),
                body: [], headers: [("ETag", "\"x\"")]),
        Example(name: "empty 200: no default Content-Type", response: response(), body: [], headers: [("Content-Length", "0")]),
        Example(name: "a hand-set Content-Length is replaced", response: response(.ok, ["Content-Length": "999", "Content-Type": "a/b"]),
                body: [9], headers: [("Content-Type", "a/b"), ("Content-Length", "1")]),
        Example(name: "CR and LF are removed (no header injection)", response: response(.ok, ["X-Evil": "a\r\nSet-Cookie: pwned=1"]),
                body: [], headers: [("X-Evil", "aSet-Cookie: pwned=1"), ("Content-Length", "0")]),
        Example(name: "a lone LF, a lone CR, one in a name", response: response(.ok, ["X-A": "1\nX-B: 2", "X-C": "3\rX-D: 4", "X-E\n": "5"]),
                body: [], headers: [("X-A", "1X-B: 2"), ("X-C", "3X-D: 4"), ("X-E", "5"), ("Content-Length", "0")]),
        Example(name: "an LF at the end of a long value", response: response(.ok, ["X-Long": String(repeating: "v", count: 200) + "\nSet-Cookie: x=1"]),
                body: [], headers: [("X-Long", String(repeating: "v", count: 200) + "Set-Cookie: x=1"), ("Content-Length", "0")]),
        Example(name: "forty long fields, a reason phrase with CRLF (the head is sized before it is written)",
                response: response(HTTPStatus(code: 599, reasonPhrase: "Odd\r\nX-Bad: 1"),
                                   HTTPHeaders((0..<40).map { ("X-Field-\($0)", String(repeating: "v", count: 300)) }),
                                   cookies: [SetCookie(name: "c", value: String(repeating: "z", count: 3000))]),
                body: Array(repeating: 7, count: 100),
                headers: (0..<40).map { ("X-Field-\($0)", String(repeating: "v", count: 300)) }
                    + [("Set-Cookie", "c=\(String(repeating: "z", count: 3000)); Path=/; HttpOnly; SameSite=Lax"),
                       ("Content-Type", "application/octet-stream"), ("Content-Length", "100")]),
    ]

    @Test("encode then parse gives the same response", arguments: examples)
    func roundTrip(_ example: Example) throws {
        let output = example.response.cgiHead(bodyLength: example.body.count) + example.body
        let parsed = try CGIResponse(parsing: output)
        #expect(parsed.status == example.response.status.code)
        #expect(parsed.reason == String(decoding: example.response.status.reasonPhrase.utf8.filter { $0 != 13 && $0 != 10 }, as: UTF8.self))
        #expect(parsed.headers.fields.map { "\($0.name): \($0.value)" } == example.headers.map { "\($0.0): \($0.1)" })
        #expect(parsed.body == example.body)
    }

    @Test("status codes and lengths of any size are written whole", arguments: [
        (1_234_567, Int.max, "Status: 1234567 Status\r\nContent-Type: application/octet-stream\r\nContent-Length: 9223372036854775807\r\n\r\n"),
        (-42, 0, "Status: -42 Status\r\n\r\n"),
        (Int.min, 5, "Status: -9223372036854775808 Status\r\n\r\n"),
        (204, 10, "Status: 204 No Content\r\n\r\n"),
        (200, 0, "Status: 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ])
    func numbers(_ code: Int, _ length: Int, _ expected: String) {
        #expect(String(decoding: Self.response(HTTPStatus(code: code)).cgiHead(bodyLength: length), as: UTF8.self) == expected)
    }

    @Test("a head for a HEAD request: the GET's length, no body")
    func headForHEAD() throws {
        let head = Self.response(.ok, ["Content-Type": "text/plain"]).cgiHead(bodyLength: 42)
        let parsed = try CGIResponse(parsing: head)
        #expect(parsed.headers["Content-Length"] == "42")
        #expect(parsed.body.isEmpty)
    }

    @Test("a streamed body without a known length keeps a hand-set Content-Length and gets the default type")
    func streamedHead() throws {
        let withLength = try CGIResponse(parsing: Self.response(.ok, ["Content-Length": "6"]).cgiHead(bodyLength: nil))
        #expect(withLength.headers["Content-Length"] == "6")
        #expect(withLength.headers["Content-Type"] == "application/octet-stream")
        let text = String(decoding: Self.response().cgiHead(bodyLength: nil), as: UTF8.self)
        #expect(text == "Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    }
}
