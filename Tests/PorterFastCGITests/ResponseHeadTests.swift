import FastCGIWire
import Logging
import Porter
@testable import PorterFastCGI
import PorterTesting
import Synchronization
import Testing

/// CGI mode and FastCGI mode write responses through one writer: the same head for the same request, and a
/// HEAD head identical to its GET's (real Content-Length included), with no body.
@Suite("One response writer for CGI and FastCGI", .serialized)
struct ResponseHeadTests {
    static func registry() throws -> HandlerRegistry {
        var registry = HandlerRegistry()
        try registry.add(name: "page", path: "/page", handler: ClosureHandler { ctx in
            ctx.response.contentType = "text/html; charset=utf-8"
            ctx.response.headers["X-Evil"] = "a\r\nInjected: yes"
            ctx.response.cookies.append(SetCookie(name: "sid", value: "v"))
            ctx.response.write("<p>hello</p>\n")
        })
        try registry.add(name: "bytes", path: "/bytes", handler: ClosureHandler { ctx in
            ctx.response.write([0, 1, 2, 3])  // no Content-Type: the default applies
        })
        try registry.add(name: "stream", path: "/stream", handler: ClosureHandler { ctx in
            ctx.response.headers["Content-Length"] = "6"
            ctx.response.body = .stream { writer in try await writer.write(Array("stream".utf8)) }
        })
        try registry.add(name: "cached", path: "/cached", handler: ClosureHandler { ctx in
            ctx.response.status = .notModified
        })
        return registry
    }

    static let paths = ["/page", "/bytes", "/stream", "/cached"]

    @Test("CGI and FastCGI heads are identical; HEAD has GET's head and no body", arguments: paths)
    func identicalHeads(_ path: String) async throws {
        let pipeline = Pipeline(registry: try Self.registry(), modules: [])
        let t = try FastCGITestServer(pipeline: pipeline)
        let fastGet = split(try await t.fetch(.get(path)).stdout)
        let fastHead = split(try await t.fetch(.head(path)).stdout)
        await t.stop()
        let cgiGet = split(await cgi(.get(path), pipeline))
        let cgiHead = split(await cgi(.head(path), pipeline))

        #expect(cgiGet.head == fastGet.head, "GET \(path): CGI and FastCGI heads")
        #expect(cgiHead.head == fastHead.head, "HEAD \(path): CGI and FastCGI heads")
        #expect(fastHead.head == fastGet.head, "HEAD \(path) has GET's head")
        #expect(cgiGet.body == fastGet.body)
        #expect(fastHead.body.isEmpty && cgiHead.body.isEmpty, "HEAD \(path) has no body")
        #expect(!fastGet.head.contains("\r\nInjected:"), "CR/LF removed from header values")
    }

    @Test("HEAD carries the real Content-Length of a buffered body")
    func headContentLength() async throws {
        let pipeline = Pipeline(registry: try Self.registry(), modules: [])
        let head = try CGIResponse(parsing: await cgi(.head("/page"), pipeline))
        #expect(head.headers["Content-Length"] == "13")
        #expect(head.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(head.body.isEmpty)
        let bytes = try CGIResponse(parsing: await cgi(.head("/bytes"), pipeline))
        #expect(bytes.headers["Content-Type"] == "application/octet-stream" && bytes.headers["Content-Length"] == "4")
    }

    /// Runs `request` through CGI mode (parameters as the environment, output captured).
    func cgi(_ request: FastCGIRequest, _ pipeline: Pipeline) async -> [UInt8] {
        let output = CapturedOutput()
        let parameters = Dictionary(request.params.map { ($0.nameString, $0.valueString) }, uniquingKeysWith: { _, last in last })
        await CGIRunner.respond(parameters: CGIParameters(parameters), input: -1, output: output, pipeline: pipeline,
                                application: ApplicationState(), logger: Logger(label: "cgi.test"))
        return output.bytes
    }

    /// The head (up to and including the blank line) as text, and the body bytes.
    func split(_ stdout: [UInt8]) -> (head: String, body: [UInt8]) {
        let marker: [UInt8] = [13, 10, 13, 10]
        guard let end = (0...max(0, stdout.count - 4)).first(where: { Array(stdout[$0..<min($0 + 4, stdout.count)]) == marker }) else {
            return (String(decoding: stdout, as: UTF8.self), [])
        }
        return (String(decoding: stdout[..<(end + 4)], as: UTF8.self), Array(stdout[(end + 4)...]))
    }
}

/// Response output kept in memory.
final class CapturedOutput: ResponseOutput {
    private let buffer = Mutex<[UInt8]>([])
    var bytes: [UInt8] { buffer.withLock { $0 } }
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        buffer.withLock { $0.append(contentsOf: bytes) }
        return true
    }
    func flush() -> Bool { true }
}
