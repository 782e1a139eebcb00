import Logging
import Porter
import PorterTesting
import Testing

/// Issue 12, item 1: `multipart/form-data` parsed as a stream into `request.form` and `request.files`, with limits.
@Suite("Multipart forms and uploads (pipeline tier)")
struct MultipartFormTests {
    /// Answers `fields` and `files` as text lines, with the handler's `formLimits`.
    struct FormEcho: HTTPHandler {
        var formLimits: FormLimits
        func processRequest(_ ctx: HTTPContext) throws {
            var lines: [String] = []
            for (name, value) in ctx.request.form { lines.append("field \(name)=\(value)") }
            for f in ctx.request.files {
                lines.append("file \(f.field) \(f.filename) [\(f.unsafeFilename)] \(f.contentType) \(f.size) \(f.content.storage)")
            }
            ctx.response.write(lines.joined(separator: "\n"))
            ctx.items[UploadedFilesSeen.self] = UploadedFilesSeen(files: ctx.request.files)
        }
    }

    struct UploadedFilesSeen: Sendable { var files: [UploadedFile] }

    static func client(_ limits: FormLimits = FormLimits()) throws -> PipelineTestClient {
        var registry = HandlerRegistry()
        try registry.add(name: "form", path: "*", handler: FormEcho(formLimits: limits))
        return PipelineTestClient(registry: registry)
    }

    static let boundary = "----porterBoundary7MA4YWxk"
    static let type = "multipart/form-data; boundary=\(boundary)"

    /// A body from (headers, content) parts, closed properly.
    static func body(_ parts: [(String, [UInt8])], close: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        for (headers, content) in parts {
            out += Array("--\(boundary)\r\n\(headers)\r\n\r\n".utf8) + content + Array("\r\n".utf8)
        }
        if close { out += Array("--\(boundary)--\r\n".utf8) }
        return out
    }

    static func field(_ name: String, _ value: String) -> (String, [UInt8]) {
        ("Content-Disposition: form-data; name=\"\(name)\"", Array(value.utf8))
    }

    static func file(_ name: String, _ filename: String, _ content: [UInt8], type: String = "text/plain") -> (String, [UInt8]) {
        ("Content-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\nContent-Type: \(type)", content)
    }

    @Test("fields and files, a file above the spill threshold in a temporary file closed when the request ends")
    func fieldsAndFiles() async throws {
        let big = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let body = Self.body([Self.field("title", "Hello"), Self.field("Tag", "a"), Self.field("tag", "b"),
                              Self.file("doc", "notes.txt", Array("small file".utf8)), Self.file("blob", "big.bin", big, type: "application/octet-stream")])
        let ctx = try await Self.client().execute(.post, "/u", headers: ["Content-Type": Self.type], body: body)
        #expect(ctx.response.status == .ok, "\(ctx.response.bodyText)")
        let lines = ctx.response.bodyText.split(separator: "\n").map(String.init)
        #expect(lines.contains("field title=Hello") && lines.contains("field Tag=a") && lines.contains("field tag=b"))
        #expect(lines.contains("file doc notes.txt [notes.txt] text/plain 10 memory"))
        #expect(lines.contains("file blob big.bin [big.bin] application/octet-stream 300000 file"))
        #expect(ctx.request.form["TAG"] == "a,b" && ctx.request.form.values(for: "tag") == ["a", "b"], "case-insensitive, joined")
        let seen = try #require(ctx.items[UploadedFilesSeen.self]?.files)
        #expect(seen.count == 2)
        #expect(throws: RequestBodyError.closed, "temp files are closed at the end of the request") { try seen[1].content.readAll() }
    }

    @Test("a file's bytes survive intact, including a boundary-like line inside the data")
    func boundaryInsideData() async throws {
        let tricky = Array("line--\(Self.boundary)\r\n--\(Self.boundary.dropLast())\r\n\n--\(Self.boundary)--\r\n-- \(Self.boundary)\r\nend".utf8)
        let body = Self.body([Self.file("f", "t.txt", tricky)])
        var registry = HandlerRegistry()
        try registry.add(name: "f", path: "*", handler: ClosureHandler { ctx in
            ctx.response.write(ctx.request.files.first?.content.bytes ?? [])
        })
        let ctx = await PipelineTestClient(registry: registry).execute(.post, "/u", headers: ["Content-Type": Self.type], body: body)
        #expect(ctx.response.status == .ok)
        #expect(ctx.response.bufferedBody == tricky)
        // CRLF + the boundary inside a part is a delimiter (RFC 2046); followed by other bytes the body is malformed.
        let broken = Self.body([Self.file("f", "t.txt", Array("a\r\n--\(Self.boundary)X b".utf8))])
        let refused = await PipelineTestClient(registry: registry).execute(.post, "/u", headers: ["Content-Type": Self.type], body: broken)
        #expect(refused.response.status == .badRequest && refused.response.bodyText.contains("boundary inside the data"))
    }

    @Test("bad input answers a clear 4xx, never a crash", arguments: [
        // (case, content type, body, status, message fragment)
        ("missing boundary", "multipart/form-data", Array("--x\r\n\r\n".utf8), 400, "without a boundary"),
        ("truncated part", type, Array(body([field("a", "1")], close: false).dropLast(6)), 400, "truncated"),
        ("no closing boundary", type, body([field("a", "1")], close: false), 400, "truncated"),
        ("empty body", type, [], 400, "truncated"),
        ("boundary followed by garbage", type, Array("--\(boundary)garbage\r\n\r\nx\r\n--\(boundary)--".utf8), 400, "boundary inside the data"),
        ("part without a name", type, body([("Content-Disposition: form-data", Array("x".utf8))]), 400, "without a form-data name"),
        ("part without disposition", type, body([("Content-Type: text/plain", Array("x".utf8))]), 400, "without Content-Disposition"),
        ("overlong boundary", "multipart/form-data; boundary=" + String(repeating: "b", count: 71), [], 400, "invalid multipart boundary"),
        ("huge part headers", type, Array(("--\(boundary)\r\nX-Pad: " + String(repeating: "p", count: 20_000)).utf8), 400, "headers larger"),
    ] as [(String, String, [UInt8], Int, String)])
    func badInput(_ name: String, _ contentType: String, _ body: [UInt8], _ status: Int, _ fragment: String) async throws {
        let ctx = try await Self.client().execute(.post, "/u", headers: ["Content-Type": contentType], body: body)
        #expect(ctx.response.status.code == status, "\(name): \(ctx.response.status)")
        #expect(ctx.response.bodyText.contains(fragment), "\(name): \(ctx.response.bodyText)")
    }

    @Test("10,000 tiny parts against the 1000-field default → 400; 17 files against 16 → 400")
    func tooManyParts() async throws {
        let tiny = Self.body((0..<10_000).map { Self.field("f\($0)", "v") })
        let ctx = try await Self.client().execute(.post, "/u", headers: ["Content-Type": Self.type], body: tiny)
        #expect(ctx.response.status == .badRequest && ctx.response.bodyText.contains("too many form fields (limit 1000)"))
        let files = Self.body((0..<17).map { Self.file("f", "x\($0).txt", [1]) })
        let ctx2 = try await Self.client().execute(.post, "/u", headers: ["Content-Type": Self.type], body: files)
        #expect(ctx2.response.status == .badRequest && ctx2.response.bodyText.contains("too many files in the form (limit 16)"), "\(ctx2.response.bodyText)")
        let ok = Self.body((0..<1000).map { Self.field("f\($0)", "v") })
        #expect(try await Self.client().execute(.post, "/u", headers: ["Content-Type": Self.type], body: ok).response.status == .ok)
    }

    @Test("an oversized field → 413 naming it")
    func bigField() async throws {
        let body = Self.body([Self.field("note", String(repeating: "n", count: 2000))])
        let ctx = try await Self.client(FormLimits(maxFieldBytes: 1000)).execute(.post, "/u", headers: ["Content-Type": Self.type], body: body)
        #expect(ctx.response.status == .payloadTooLarge && ctx.response.bodyText.contains("form field \"note\" is larger than 1000 bytes"))
    }

    @Test("a 200 MB part against a 16 MB file limit → 413, read as a stream from a spilled body (never 200 MB in memory)")
    func hugePart() async throws {
        var collector = RequestBodyCollector(spillThreshold: 64 * 1024)
        try collector.append(Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n".utf8))
        let block = [UInt8](repeating: 0x5A, count: 1 << 20)
        for _ in 0..<200 { try collector.append(block) }
        try collector.append(Array("\r\n--\(Self.boundary)--\r\n".utf8))
        let body = collector.finish()
        defer { body.close() }
        #expect(body.storage == .file)
        var registry = HandlerRegistry()
        try registry.add(name: "form", path: "*", handler: FormEcho(formLimits: FormLimits(maxFileBytes: 16 << 20)))
        var request = HTTPRequest(method: .post, uri: "/u", headers: ["Content-Type": Self.type])
        request.body = body
        let ctx = HTTPContext(request: request, application: ApplicationState(), logger: Logger(label: "test"))
        await Pipeline(registry: registry, modules: []).run(ctx)
        #expect(ctx.response.status == .payloadTooLarge)
        #expect(ctx.response.bodyText.contains("file \"f\" is larger than 16777216 bytes"))
    }

    @Test("file names are sanitised; the original stays in unsafeFilename", arguments: [
        ("../../x", "x"), ("..\\..\\windows\\evil.exe", "evil.exe"), ("/etc/passwd", "passwd"), ("..", ""),
        (".htaccess", "htaccess"), ("a\u{1}b\u{7F}c.txt", "abc.txt"), ("report\u{202E}fdp.exe", "reportfdp.exe"),
        ("ok name.pdf", "ok name.pdf"), (String(repeating: "é", count: 200), String(repeating: "é", count: 127)),
        ("line\u{2028}break.txt", "linebreak.txt"), ("a\u{200E}b\u{FFFD}.txt", "ab_.txt"),
    ])
    func sanitise(_ raw: String, _ safe: String) {
        #expect(UploadedFile.sanitize(raw) == safe)
    }

    @Test("filename=\"../../x\", a non-UTF-8 name and filename* through the parser")
    func namesThroughParser() async throws {
        var latin1 = Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"f\"; filename=\"caf".utf8)
        latin1 += [0xE9] + Array(".txt\"\r\n\r\nx\r\n".utf8)
        let body = Self.body([Self.file("a", "../../x", [1]),
                              ("Content-Disposition: form-data; name=\"b\"; filename=\"fallback\"; filename*=UTF-8''na%C3%AFve.txt", [2])], close: false)
        let all = body + latin1 + Array("--\(Self.boundary)--".utf8)
        let ctx = try await Self.client().execute(.post, "/u", headers: ["Content-Type": Self.type], body: all)
        #expect(ctx.response.status == .ok, "\(ctx.response.bodyText)")
        let files = ctx.request.files
        #expect(files.map(\.filename) == ["x", "naïve.txt", "caf_.txt"])
        #expect(files.map(\.unsafeFilename) == ["../../x", "naïve.txt", "caf\u{FFFD}.txt"])
    }

    @Test("query lookups ignore case and join repeated keys with commas (ASP.NET); values(for:) keeps each")
    func queryCaseInsensitive() {
        let query = QueryParameters(parsing: "Name=a&name=b&other=c&NAME=")
        #expect(query["name"] == "a,b," && query["NaMe"] == "a,b,")
        #expect(query.values(for: "name") == ["a", "b", ""])
        #expect(query["other"] == "c" && query["missing"] == nil)
        #expect(query["ñ"] == nil && QueryParameters(parsing: "%C3%91=1")["ñ"] == nil, "non-ASCII names compare exactly")
    }

    @Test("parsesMultipart = false leaves the raw body to the handler")
    func rawBody() async throws {
        let body = Self.body([Self.field("a", "1")])
        let ctx = try await Self.client(FormLimits(parsesMultipart: false)).execute(.post, "/u", headers: ["Content-Type": Self.type], body: body)
        #expect(ctx.response.status == .ok && ctx.response.bodyText.isEmpty && ctx.request.body.bytes == body)
    }
}
