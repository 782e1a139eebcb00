import Porter
import PorterTesting
import Testing

/// `respondNotModifiedIfCurrent` through a pipeline: every precondition header, alone and together.
@Suite struct ConditionalGETTests {
    /// One case: request headers built from the current validators → expected status.
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let method: HTTPMethod
        let headers: @Sendable (_ etag: String, _ lastModified: Int64) -> HTTPHeaders
        let status: Int
        var testDescription: String { name }

        init(_ name: String, _ status: Int, method: HTTPMethod = .get,
             headers: @escaping @Sendable (_ etag: String, _ lastModified: Int64) -> HTTPHeaders) {
            self.name = name
            self.method = method
            self.headers = headers
            self.status = status
        }
    }

    static let hour: Int64 = 3600
    static let lastModified: Int64 = 1_764_000_000
    static let etag = EntityTag("0123456789abcdef")

    /// The current representation's validators as the response carries them.
    static var etagText: String { etag.description }

    static let cases: [Case] = [
        Case("no validators", 200) { _, _ in [:] },
        Case("INM match", 304) { e, _ in ["If-None-Match": e] },
        Case("INM mismatch", 200) { _, _ in ["If-None-Match": "\"0123\""] },
        Case("INM list containing it", 304) { e, _ in ["If-None-Match": "\"aaa\", W/\"bbb\" ,\(e)"] },
        Case("INM list without it", 200) { _, _ in ["If-None-Match": "\"aaa\", \"bbb\""] },
        Case("INM weak form of it", 304) { e, _ in ["If-None-Match": "W/" + e] },
        Case("INM star", 304) { _, _ in ["If-None-Match": "*"] },
        Case("INM in two fields", 304) { e, _ in
            var h = HTTPHeaders()
            h.add("If-None-Match", "\"x\"")
            h.add("If-None-Match", e)
            return h
        },
        Case("INM unquoted (lenient)", 304) { e, _ in ["If-None-Match": String(e.dropFirst().dropLast())] },
        Case("INM empty", 200) { _, _ in ["If-None-Match": ""] },
        Case("IMS equal", 304) { _, lm in ["If-Modified-Since": HTTPDate.rfc1123(lm)] },
        Case("IMS older", 200) { _, lm in ["If-Modified-Since": HTTPDate.rfc1123(lm - hour)] },
        Case("IMS one second older", 200) { _, lm in ["If-Modified-Since": HTTPDate.rfc1123(lm - 1)] },
        Case("IMS newer", 304) { _, lm in ["If-Modified-Since": HTTPDate.rfc1123(lm + hour)] },
        Case("IMS garbage", 200) { _, _ in ["If-Modified-Since": "yesterday, around noon"] },
        Case("IMS wrong zone", 200) { _, lm in
            ["If-Modified-Since": String(HTTPDate.rfc1123(lm).dropLast(3)) + "PST"]
        },
        Case("IMS RFC 850 form", 304) { _, lm in ["If-Modified-Since": rfc850(lm)] },
        Case("IMS asctime form", 304) { _, lm in ["If-Modified-Since": asctime(lm)] },
        Case("INM mismatch beats IMS equal", 200) { _, lm in
            ["If-None-Match": "\"stale\"", "If-Modified-Since": HTTPDate.rfc1123(lm)]
        },
        Case("INM match beats IMS older", 304) { e, lm in
            ["If-None-Match": e, "If-Modified-Since": HTTPDate.rfc1123(lm - hour)]
        },
        Case("HEAD INM match", 304, method: .head) { e, _ in ["If-None-Match": e] },
        Case("HEAD IMS older", 200, method: .head) { _, lm in ["If-Modified-Since": HTTPDate.rfc1123(lm - hour)] },
        // If-Match: strong comparison, 412 when nothing matches.
        Case("IM match", 200) { e, _ in ["If-Match": e] },
        Case("IM mismatch", 412) { _, _ in ["If-Match": "\"other\""] },
        Case("IM star", 200) { _, _ in ["If-Match": "*"] },
        Case("IM weak form of it (strong comparison)", 412) { e, _ in ["If-Match": "W/" + e] },
        Case("IM list containing it", 200) { e, _ in ["If-Match": "\"a\", \(e)"] },
        Case("IM mismatch beats INM match", 412) { e, _ in ["If-Match": "\"other\"", "If-None-Match": e] },
        Case("IM match, then INM match", 304) { e, _ in ["If-Match": e, "If-None-Match": e] },
        // If-Unmodified-Since: 412 when changed since; ignored under If-Match.
        Case("IUS older", 412) { _, lm in ["If-Unmodified-Since": HTTPDate.rfc1123(lm - hour)] },
        Case("IUS equal", 200) { _, lm in ["If-Unmodified-Since": HTTPDate.rfc1123(lm)] },
        Case("IUS garbage", 200) { _, _ in ["If-Unmodified-Since": "soon"] },
        Case("IUS older beats INM match", 412) { e, lm in
            ["If-Unmodified-Since": HTTPDate.rfc1123(lm - hour), "If-None-Match": e]
        },
        Case("INM match in two fields, both current", 304) { e, _ in
            var h = HTTPHeaders()
            h.add("If-None-Match", e)
            h.add("if-none-match", e)
            return h
        },
        Case("IM match beats IUS older", 200) { e, lm in
            ["If-Match": e, "If-Unmodified-Since": HTTPDate.rfc1123(lm - hour)]
        },
        // Other methods never get 304: an If-None-Match match is 412, If-Modified-Since is ignored.
        Case("POST no validators", 200, method: .post) { _, _ in [:] },
        Case("POST INM match", 412, method: .post) { e, _ in ["If-None-Match": e] },
        Case("POST INM star", 412, method: .post) { _, _ in ["If-None-Match": "*"] },
        Case("POST IMS newer", 200, method: .post) { _, lm in ["If-Modified-Since": HTTPDate.rfc1123(lm + hour)] },
        Case("PUT IM mismatch", 412, method: .put) { _, _ in ["If-Match": "\"other\""] },
    ]

    static func rfc850(_ s: Int64) -> String {
        let c = HTTPDate.civil(s)
        let two = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
        return "\(HTTPDate.longWeekdays[c.weekday]), \(two(c.day))-\(HTTPDate.months[c.month - 1])-\(two(c.year % 100)) "
            + "\(two(c.hour)):\(two(c.minute)):\(two(c.second)) GMT"
    }

    static func asctime(_ s: Int64) -> String {
        let c = HTTPDate.civil(s)
        let two = { (v: Int) in v < 10 ? "0\(v)" : "\(v)" }
        let day = c.day < 10 ? " \(c.day)" : "\(c.day)"
        return "\(HTTPDate.weekdays[c.weekday]) \(HTTPDate.months[c.month - 1]) \(day) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) \(c.year)"
    }

    /// A client whose every path answers `body` with the fixed validators, after a module set `X-Module`.
    static func client(etag: EntityTag = etag) throws -> PipelineTestClient {
        var registry = HandlerRegistry()
        try registry.add(name: "doc", path: "*", handler: ClosureHandler { ctx in
            ctx.response.headers["Cache-Control"] = "public, max-age=60"
            if ctx.respondNotModifiedIfCurrent(etag: etag, lastModified: lastModified) { return }
            ctx.response.contentType = "text/plain"
            ctx.response.write("body")
        })
        let module = ClosureModule(name: "stamp") { events in
            events.on(.beginRequest) { $0.response.headers["X-Module"] = "kept" }
        }
        return PipelineTestClient(registry: registry, modules: [module])
    }

    /// Header names in any case are preconditions; names that only look alike are not (the no-precondition fast path).
    @Test(arguments: [
        ("if-none-match", "\"0123456789abcdef\"", 304), ("IF-NONE-MATCH", "W/\"0123456789abcdef\"", 304), ("iF-mAtCh", "\"other\"", 412),
        ("if-modified-since", "Sun, 06 Nov 2095 08:49:37 GMT", 304), ("If", "\"0123456789abcdef\"", 200), ("Iffy-None-Match", "\"0123456789abcdef\"", 200),
        ("X-If-None-Match", "\"0123456789abcdef\"", 200), ("If-", "\"0123456789abcdef\"", 200),
    ])
    func headerNamesInAnyCase(_ row: (String, String, Int)) async throws {
        var headers = HTTPHeaders()
        headers.add("Accept", "*/*")
        headers.add(row.0, row.1)
        let ctx = try await Self.client().execute(.get, "/doc", headers: headers)
        #expect(ctx.response.status.code == row.2, "\(row.0): \(row.1)")
    }

    /// The validators form (an exact-text If-None-Match skips parsing) answers every case as the parsing form does.
    @Test(arguments: cases)
    func validatorsFormAgreesWithParsing(_ testCase: Case) {
        let headers = testCase.headers(Self.etagText, Self.lastModified)
        let validators = Validators(etag: Self.etag, lastModified: Self.lastModified)
        #expect(validators.etagHeader == Self.etagText && validators.lastModifiedHeader == HTTPDate.rfc1123(Self.lastModified))
        #expect(ConditionalGET.evaluate(method: testCase.method, headers: headers, validators: validators)
                == ConditionalGET.evaluate(method: testCase.method, headers: headers, etag: Self.etag, lastModified: Self.lastModified))
    }

    @Test(arguments: cases)
    func preconditions(_ testCase: Case) async throws {
        let ctx = try await Self.client().execute(testCase.method, "/doc", headers: testCase.headers(Self.etagText, Self.lastModified))
        let response = ctx.response
        #expect(response.status.code == testCase.status)
        #expect(response.headers["ETag"] == Self.etagText)
        #expect(response.headers["Last-Modified"] == HTTPDate.rfc1123(Self.lastModified))
        #expect(response.headers["Cache-Control"] == "public, max-age=60")
        #expect(response.headers["X-Module"] == "kept", "headers set before the handler stay")
        if testCase.status == 200 {
            #expect(response.bodyText == "body")
            #expect(response.contentType == "text/plain")
        } else {
            #expect(response.bufferedBody == [])
            #expect(response.contentType == nil)
        }
    }

    @Test(arguments: [
        ("\"v1\"", 304), ("W/\"v1\"", 304), ("\"v2\"", 200), ("*", 304),
    ])
    func aWeakCurrentTagMatchesIfNoneMatchWeakly(header: String, status: Int) async throws {
        let ctx = try await Self.client(etag: EntityTag("v1", weak: true)).execute(.get, "/doc", headers: ["If-None-Match": header])
        #expect(ctx.response.status.code == status)
        #expect(ctx.response.headers["ETag"] == "W/\"v1\"")
    }

    @Test(arguments: [("\"v1\"", 412), ("W/\"v1\"", 412), ("*", 200)])
    func aWeakCurrentTagNeverMatchesIfMatch(header: String, status: Int) async throws {
        let ctx = try await Self.client(etag: EntityTag("v1", weak: true)).execute(.get, "/doc", headers: ["If-Match": header])
        #expect(ctx.response.status.code == status)
    }

    @Test func withoutValidatorsOnlyStarMatches() {
        let star: HTTPHeaders = ["If-None-Match": "*"], tag: HTTPHeaders = ["If-None-Match": "\"a\""]
        #expect(ConditionalGET.evaluate(method: .get, headers: star, etag: nil, lastModified: nil) == .notModified)
        #expect(ConditionalGET.evaluate(method: .get, headers: tag, etag: nil, lastModified: nil) == .proceed)
        #expect(ConditionalGET.evaluate(method: .get, headers: ["If-Match": "\"a\""], etag: nil, lastModified: nil) == .preconditionFailed)
        #expect(ConditionalGET.evaluate(method: .get, headers: ["If-Modified-Since": HTTPDate.rfc1123(0)], etag: nil,
                                        lastModified: nil) == .proceed)
    }

    @Test(arguments: [
        ([String](), nil as EntityTagCondition?),
        (["*"], .any),
        (["\"a\""], .tags([EntityTag("a")])),
        (["W/\"a\", \"b\""], .tags([EntityTag("a", weak: true), EntityTag("b")])),
        (["\"a\",\"b\"", "\"c\""], .tags([EntityTag("a"), EntityTag("b"), EntityTag("c")])),
        (["  ,, \"a\" ,"], .tags([EntityTag("a")])),
        (["\"a,b\""], .tags([EntityTag("a,b")])),
        (["\"unterminated"], .tags([EntityTag("unterminated")])),
        (["bare"], .tags([EntityTag("bare")])),
        ([""], .tags([])),
        (["\"a\", *"], .any),
    ])
    func parsesEntityTagLists(values: [String], condition: EntityTagCondition?) {
        #expect(EntityTagCondition(headerValues: values) == condition)
    }

    @Test func strongAndWeakComparison() {
        let strong = EntityTag("x"), weak = EntityTag("x", weak: true), other = EntityTag("y")
        #expect(strong.stronglyMatches(strong) && !strong.stronglyMatches(weak) && !weak.stronglyMatches(weak))
        #expect(strong.weaklyMatches(weak) && weak.weaklyMatches(weak) && !strong.weaklyMatches(other))
        #expect(weak.description == "W/\"x\"" && strong.description == "\"x\"")
    }

    @Test func hashesDifferForSmallChanges() {
        var seen = Set<String>()
        let base = Array("<rss>0123456789abcdef</rss>".utf8)
        for i in base.indices {
            var changed = base
            changed[i] ^= 1
            seen.insert(EntityTag(hashing: changed).opaque)
        }
        for n in 0..<64 { seen.insert(EntityTag(hashing: [UInt8](repeating: 0, count: n)).opaque) }
        #expect(seen.count == base.count + 64)
        #expect(EntityTag(hashing: base) == EntityTag(hashing: base))
        #expect(EntityTag(hashing: base).opaque.count == 32 && !EntityTag(hashing: base).isWeak)
    }
}
