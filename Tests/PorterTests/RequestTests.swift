import Glibc
import Logging
import Porter
import PorterTesting
import Testing

@Suite("Request and response values")
struct RequestTests {
    static let queries: [(String, [String])] = [
        ("", []),
        ("a=1", ["a=1"]),
        ("a=1&b=2&a=3", ["a=1", "b=2", "a=3"]),
        ("q=hello+world", ["q=hello world"]),
        ("q=%41%42%zz%", ["q=AB%zz%"]),
        ("flag&&x=", ["flag=", "x="]),
        ("%F0%9F%98%80=%C3%A9", ["😀=é"]),
        ("bad=%FF", ["bad=\u{FFFD}"]),
        ("k=a=b", ["k=a=b"]),
        ("a&", ["a="]),
        ("&&&", []),
        ("&x=1&", ["x=1"]),
        ("=v", ["=v"]),
        ("+=+%2B", [" = +"]),
        ("%=%2", ["%=%2"]),
        // Split on the bytes `&` and `=` (WHATWG form parsing), even where a combining mark follows: as Characters,
        // `&\u{301}` and `=\u{301}` are single graphemes and were not split.
        ("x=1&\u{301}y=2", ["x=1", "\u{301}y=2"]),
        ("k=\u{301}v", ["k=\u{301}v"]),
        ("é=ü&ü", ["é=ü", "ü="]),
    ]

    @Test("query string parsing", arguments: queries)
    func query(_ row: (String, [String])) {
        #expect(QueryParameters(parsing: row.0).pairs.map { "\($0.name)=\($0.value)" } == row.1)
    }

    @Test("a request is a value: a changed copy leaves the original as it was, and either can change again")
    func copyOnWrite() {
        let original = HTTPRequest(method: .get, uri: "/a?x=1", headers: ["Accept": "text/plain"], body: Array("one".utf8))
        var copy = original
        copy.path = "/b"
        copy.headers.add("X-Extra", "1")
        copy.body = RequestBody(Array("two".utf8))
        copy.query.append("y", "2")
        #expect(original.path == "/a" && original.headers["X-Extra"] == nil && original.bodyText == "one")
        #expect(original.query.pairs.map(\.name) == ["x"])
        #expect(copy.path == "/b" && copy.headers["X-Extra"] == "1" && copy.bodyText == "two")
        #expect(copy.query.pairs.map(\.name) == ["x", "y"])
        var again = copy
        again.method = .post
        #expect(copy.method == .get && again.method == .post && again.path == "/b")
        // Through a context, in place.
        let context = HTTPContext(request: original, application: ApplicationState(), logger: Logger(label: "t"))
        context.request.headers.add("X-Module", "set")
        #expect(context.request.headers["X-Module"] == "set" && original.headers["X-Module"] == nil)
    }

    @Test("a request from nginx's FastCGI parameters")
    func fromCGI() {
        let r = HTTPRequest(cgiParameters: [
            "REQUEST_METHOD": "POST", "REQUEST_URI": "/a%20b/x.rss?x=1&y=%41", "DOCUMENT_URI": "/a b/x.rss",
            "QUERY_STRING": "x=1&y=%41", "HTTP_USER_AGENT": "curl", "HTTP_X_FORWARDED_FOR": "10.0.0.1",
            "CONTENT_TYPE": "application/x-www-form-urlencoded", "HTTP_CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": "7", "HTTP_COOKIE": "sid=abc; theme=\"dark\"; sid=second", "REMOTE_ADDR": "192.0.2.1",
            "REMOTE_PORT": "5555", "REQUEST_ID": "req-1",
        ], body: Array("k=v&w=1".utf8))
        #expect(r.method == .post)
        #expect(r.path == "/a b/x.rss")
        #expect(r.uri == "/a%20b/x.rss?x=1&y=%41")
        #expect(r.query["y"] == "A")
        #expect(r.headers["user-agent"] == "curl")
        #expect(r.headers["X-Forwarded-For"] == "10.0.0.1")
        #expect(r.headers.values(for: "Content-Type").count == 1)
        #expect(r.cookies == ["sid": "abc", "theme": "dark"])
        #expect(r.form["k"] == "v")
        #expect(r.remoteAddress == "192.0.2.1" && r.remotePort == 5555)
        #expect(r.pathExtension == "rss")
        #expect(r.parameters["REQUEST_ID"] == "req-1")
    }

    /// Environment rows (`NAME=VALUE` C strings, as libfcgi's envp holds them) and what each lookup must give.
    static let environments: [([String], [(String, String?)], [String])] = [
        (["A=1", "B=2"], [("A", "1"), ("B", "2"), ("C", nil), ("a", nil)], ["A=1", "B=2"]),
        (["A=1", "B=x", "A=2"], [("A", "2"), ("B", "x")], ["B=x", "A=2"]),                 // repeated: the last counts
        (["NOEQUALS", "K=a=b"], [("NOEQUALS", nil), ("K", "a=b")], ["K=a=b"]),               // no '=' skipped; value keeps '='
        (["E=", "=v"], [("E", ""), ("", "v")], ["E=", "=v"]),                                 // empty value, empty name
        (["BAD=\u{FF}x"], [("BAD", "\u{FF}x")], ["BAD=\u{FF}x"]),                          // non-ASCII kept
        ([], [("A", nil)], []),
    ]

    /// A NULL-terminated array of C strings (free each with `free`).
    static func cStrings(_ entries: [String]) -> [UnsafeMutablePointer<CChar>?] {
        var result: [UnsafeMutablePointer<CChar>?] = []
        for entry in entries { result.append(strdup(entry)) }
        result.append(nil)
        return result
    }

    @Test("CGI parameters from a C environment: exact names, the last repeat counts", arguments: environments)
    func parametersFromEnvironment(_ row: ([String], [(String, String?)], [String])) {
        var strings = Self.cStrings(row.0)
        defer { strings.forEach { free($0) } }
        let parameters = strings.withUnsafeMutableBufferPointer { CGIParameters(environment: $0.baseAddress!) }
        for (name, value) in row.1 {
            #expect(parameters[name] == value, "\(name)")
            #expect(parameters.contains(name) == (value != nil))
            #expect(parameters.hasValue(name) == !(value ?? "").isEmpty)
        }
        #expect(parameters.map { "\($0.key)=\($0.value)" } == row.2)
        #expect(parameters.count == row.2.count && parameters.isEmpty == row.0.isEmpty)
        #expect(parameters == CGIParameters(parameters.dictionary))
    }

    @Test("CGI parameters: setting replaces every repeat, nil removes, literals and dictionaries agree")
    func parametersEdit() {
        var p: CGIParameters = ["A": "1", "B": "2"]
        p["A"] = "3"
        #expect(p["A"] == "3" && p.count == 2)
        p["B"] = nil
        #expect(p["B"] == nil && !p.contains("B") && p.count == 1)
        p["C"] = String(repeating: "v", count: 100_000)
        #expect(p["C"]?.count == 100_000)
        #expect(CGIParameters(["A": "3", "C": String(repeating: "v", count: 100_000)]) == p)
        #expect(CGIParameters() == [:] && CGIParameters().isEmpty)
    }

    @Test("a header sent twice by nginx: the parameter, the header list and the cookies agree on the last")
    func repeatedHeaderParameter() {
        var strings = Self.cStrings(["REQUEST_METHOD=GET", "REQUEST_URI=/x", "HTTP_COOKIE=sid=first", "HTTP_HOST=a",
                                     "HTTP_COOKIE=sid=second", "CONTENT_TYPE=text/plain"])
        defer { strings.forEach { free($0) } }
        let parameters = strings.withUnsafeMutableBufferPointer { CGIParameters(environment: $0.baseAddress!) }
        let r = HTTPRequest(cgiParameters: parameters, body: RequestBody.empty)
        #expect(r.parameters["HTTP_COOKIE"] == "sid=second")
        #expect(r.headers.values(for: "Cookie") == ["sid=second"] && r.cookies == ["sid": "second"])
        #expect(r.headers.map { $0.name } == ["Host", "Cookie", "Content-Type"])   // the order nginx sent
    }

    @Test("header names from CGI parameter names: long, lower-case, digits, non-ASCII and empty names")
    func headerNamesFromCGI() {
        let r = HTTPRequest(cgiParameters: [
            "HTTP_X_A_VERY_LONG_HEADER_NAME_INDEED": "1", "HTTP_x_lower_case": "2", "HTTP_X_V2_TOKEN": "3",
            "HTTP_X_CAF\u{C9}": "4", "HTTP_": "5", "HTTP__X": "6",
        ], body: [UInt8]())
        #expect(Set(r.headers.map(\.name)) == ["X-A-Very-Long-Header-Name-Indeed", "x-lower-case", "X-V2-Token", "X-Caf\u{C9}", "", "-X"])
        #expect(r.headers["x-a-very-long-header-name-indeed"] == "1" && r.headers["X-LOWER-CASE"] == "2")
        #expect(r.headers["X-V2-Token"] == "3" && r.headers["X-Caf\u{C9}"] == "4" && r.headers[""] == "5")
    }

    @Test("application state: concurrent updates are atomic")
    func applicationState() async {
        let state = ApplicationState()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<1000 { group.addTask { state.update { $0["n"] = (($0["n"] as? Int) ?? 0) + 1 } } }
        }
        #expect(state.value("n", as: Int.self) == 1000)
        #expect(state.increment("n") == 1001)
    }

    @Test("JSON serialisation escapes what it must")
    func json() {
        let v: JSONValue = ["a": "x\"y\\z\n<", "n": 1, "l": [true, .null], "c": .string("\u{01}")]
        #expect(v.serialized() == #"{"a":"x\"y\\z\n\u003c","n":1,"l":[true,null],"c":"\u0001"}"#)
    }
}

/// Setting a header through the subscript: replaces the first field of that name where it stands, removes later
/// repeats (any case), appends a new name, and `nil` removes them all.
@Suite("Header subscript set")
struct HeaderSetTests {
    typealias Row = (start: [(String, String)], name: String, value: String?, expected: [String])
    static let rows: [Row] = [
        ([], "Vary", "Accept", ["Vary: Accept"]),
        ([], "Vary", nil, []),
        ([("A", "1")], "Vary", "Accept", ["A: 1", "Vary: Accept"]),
        ([("Vary", "x"), ("A", "1")], "vary", "y", ["vary: y", "A: 1"]),
        ([("A", "1"), ("Vary", "x"), ("B", "2"), ("VARY", "z"), ("C", "3")], "Vary", "y", ["A: 1", "Vary: y", "B: 2", "C: 3"]),
        ([("A", "1"), ("Vary", "x"), ("B", "2"), ("vary", "z")], "Vary", nil, ["A: 1", "B: 2"]),
        ([("Vary", "x")], "Vary", nil, []),
        ([("Varz", "x")], "Vary", "y", ["Varz: x", "Vary: y"]),
        ((0..<20).map { ("H\($0)", "\($0)") }, "H19", "new", (0..<19).map { "H\($0): \($0)" } + ["H19: new"]),
    ]

    @Test("set replaces in place, drops repeats, appends or removes", arguments: rows)
    func set(_ row: Row) {
        var headers = HTTPHeaders(row.start)
        headers[row.name] = row.value
        #expect(headers.fields.map { "\($0.name): \($0.value)" } == row.expected)
        #expect(headers[row.name] == row.value)
    }
}

/// Header names compare without regard to ASCII case, and only ASCII letters fold.
@Suite("Header name comparison")
struct HeaderNameComparisonTests {
    static let cases: [(String, String, Bool)] = [
        ("Content-Type", "content-type", true), ("CONTENT-LENGTH", "Content-Length", true), ("", "", true),
        ("Content-Type", "Content-Typf", false), ("Content-Type", "Content-Length", false), ("X", "XY", false),
        ("@", "`", false), ("[", "{", false), ("é", "É", false),
        (String(repeating: "A", count: 40), String(repeating: "a", count: 40), true), // not a small string
    ]

    @Test("equalsIgnoringASCIICase", arguments: cases)
    func compares(_ c: (String, String, Bool)) {
        #expect(c.0.equalsIgnoringASCIICase(c.1) == c.2, "\(c.0) vs \(c.1)")
        #expect(c.1.equalsIgnoringASCIICase(c.0) == c.2, "\(c.1) vs \(c.0)")
        var headers = HTTPHeaders()
        headers.add(c.0, "v")
        #expect((headers[c.1] != nil) == c.2)
    }
}
