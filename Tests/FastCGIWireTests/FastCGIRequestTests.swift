import Testing
@testable import FastCGIWire

/// The params a request produces must match nginx's `fastcgi_params` for the same request.
@Suite struct FastCGIRequestTests {
    func params(_ request: FastCGIRequest) -> [String: String] {
        Dictionary(request.params.map { ($0.nameString, $0.valueString) }, uniquingKeysWith: { _, last in last })
    }

    @Test func defaultsMirrorNginxFastCGIParams() {
        let p = params(.get("/feeds/news.rss?page=2&q=a%20b"))
        let expected: [String: String] = [
            "QUERY_STRING": "page=2&q=a%20b", "REQUEST_METHOD": "GET", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
            "SCRIPT_NAME": "/feeds/news.rss", "REQUEST_URI": "/feeds/news.rss?page=2&q=a%20b",
            "DOCUMENT_URI": "/feeds/news.rss", "DOCUMENT_ROOT": "/var/www/html", "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_SCHEME": "http", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "nginx/1.22.1",
            "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "54321", "REMOTE_USER": "", "SERVER_ADDR": "127.0.0.1",
            "SERVER_PORT": "80", "SERVER_NAME": "localhost", "REDIRECT_STATUS": "200", "HTTP_HOST": "localhost",
        ]
        #expect(p == expected)
        #expect(FastCGIRequest.get("/").params.first?.nameString == "QUERY_STRING", "nginx's order")
    }

    static let uris: [(uri: String, path: String, query: String)] = [
        ("/", "/", ""),
        ("/a/b.rss", "/a/b.rss", ""),
        ("/a?", "/a", ""),
        ("/a?x=1?y=2", "/a", "x=1?y=2"),
        ("/caf%C3%A9/%41%zz", "/café/A%zz", ""),
        ("/p%3Fq?r=%3F", "/p?q", "r=%3F"),
    ]

    @Test(arguments: uris)
    func splitsURI(_ example: (uri: String, path: String, query: String)) {
        let p = params(.get(example.uri))
        #expect(p["REQUEST_URI"] == example.uri)
        #expect(p["DOCUMENT_URI"] == example.path)
        #expect(p["SCRIPT_NAME"] == example.path)
        #expect(p["QUERY_STRING"] == example.query)
    }

    @Test func headersBecomeHTTPParams() {
        let p = params(.get("/", headers: ["Host": "example.org:8080", "Accept-Language": "de", "X-Forwarded-For": "10.0.0.1",
                                           "Cookie": "a=1; b=2"]))
        #expect(p["HTTP_HOST"] == "example.org:8080")
        #expect(p["HTTP_ACCEPT_LANGUAGE"] == "de")
        #expect(p["HTTP_X_FORWARDED_FOR"] == "10.0.0.1")
        #expect(p["HTTP_COOKIE"] == "a=1; b=2")
        #expect(FastCGIRequest.get("/", headers: ["Host": "h"]).params.filter { $0.nameString == "HTTP_HOST" }.count == 1)
    }

    @Test func postSetsContentParams() {
        let p = params(.post("/form", text: "a=1&b=2", contentType: "application/x-www-form-urlencoded"))
        #expect(p["REQUEST_METHOD"] == "POST")
        #expect(p["CONTENT_LENGTH"] == "7")
        #expect(p["CONTENT_TYPE"] == "application/x-www-form-urlencoded")
        #expect(p["HTTP_CONTENT_TYPE"] == "application/x-www-form-urlencoded")
    }

    @Test func extraParamsOverrideAndOmittedParamsVanish() {
        var request = FastCGIRequest.get("/secret").with(param: "REMOTE_USER", "alice").with(param: "REQUEST_ID", "abc")
        request.omittedParams = ["REDIRECT_STATUS"]
        let names = request.params.map(\.nameString)
        #expect(params(request)["REMOTE_USER"] == "alice")
        #expect(names.filter { $0 == "REMOTE_USER" }.count == 1)
        #expect(names.last == "REQUEST_ID")
        #expect(!names.contains("REDIRECT_STATUS"))
    }

    @Test func encodesNginxRecordSequence() throws {
        var request = FastCGIRequest.post("/up", body: [UInt8](repeating: 0x5A, count: 70_000))
        request.requestID = 7
        request.keepConnection = true
        let records = try RecordDecoder.decodeAll(request.encoded())
        #expect(records.first?.type == .beginRequest)
        #expect(try BeginRequestBody(decoding: records[0].content).keepConnection)
        #expect(records.allSatisfy { $0.requestID == 7 })
        let params = records.filter { $0.type == .params }
        let stdin = records.filter { $0.type == .stdin }
        #expect(params.last?.content.isEmpty == true && stdin.last?.content.isEmpty == true)
        #expect(stdin.map(\.content.count) == [65_535, 4_465, 0])
        #expect(try NameValuePairs.decode(params.flatMap(\.content)) == request.params)
        #expect(records.map(\.type) == [.beginRequest] + params.map(\.type) + stdin.map(\.type), "BEGIN, PARAMS, STDIN in order")
    }

    @Test func getHasEmptyStdinTerminator() throws {
        let records = try RecordDecoder.decodeAll(FastCGIRequest.get("/").encoded())
        #expect(records.filter { $0.type == .stdin } == [Record(type: .stdin, requestID: 1)])
    }
}
