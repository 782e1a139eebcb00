import Foundation
import Porter
import PorterDemo
import PorterHost
import PorterTesting
import Testing

/// Issue 12, item 1: `POST /upload` (the demo's multipart form) through real nginx.
@Suite("Edge: multipart uploads through real nginx", .enabled(if: NginxHarness.isAvailable, "nginx is not installed"), .serialized)
struct UploadNginxTests {
    static let toml = """
    [[modules]]
    name = "errors"

    [[handlers]]
    verb = "POST"
    path = "/upload"
    handler = "upload"
    max_body = "16m"
    """

    static let boundary = "----porterEdge9x"
    static let type = "multipart/form-data; boundary=\(boundary)"

    static func part(_ disposition: String, _ content: [UInt8], type: String? = nil) -> [UInt8] {
        Array("--\(boundary)\r\nContent-Disposition: form-data; \(disposition)\r\n\(type.map { "Content-Type: \($0)\r\n" } ?? "")\r\n".utf8)
            + content + Array("\r\n".utf8)
    }

    static let closing = Array("--\(boundary)--\r\n".utf8)

    @Test("fields and files come back as JSON with sizes and SHA-256; ../../x is sanitised; a 3 MiB file spills and hashes right")
    func upload() async throws {
        let running = try await InProcessSite.start(PorterApplication.porter, try ServerConfiguration.parse(toml: Self.toml, baseDirectory: "."))
        let http = running.site.client(timeout: .seconds(30))
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 12) }
        var latin1Name = Array("name=\"raw\"; filename=\"caf".utf8)
        latin1Name += [0xE9] + Array(".txt\"".utf8)
        let body = Self.part("name=\"Title\"", Array("Hello".utf8)) + Self.part("name=\"title\"", Array("again".utf8))
            + Self.part("name=\"doc\"; filename=\"../../x\"", Array("tiny".utf8), type: "text/plain")
            + Self.part("name=\"blob\"; filename=\"big.bin\"", big, type: "application/octet-stream")
            + Self.part(String(decoding: latin1Name, as: UTF8.self), [1, 2, 3])
            + Self.closing
        let response = try await http.fetch("/upload", method: "POST", headers: ["Content-Type": Self.type], body: body)
        #expect(response.status == 200, "\(response.status) \(response.text.prefix(300))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let fields = try #require(json["fields"] as? [String: String])
        #expect(fields == ["Title": "Hello,again"], "case-insensitive, repeated names joined with commas")
        let files = try #require(json["files"] as? [[String: Any]])
        #expect(files.count == 3)
        #expect(files[0]["field"] as? String == "doc" && files[0]["filename"] as? String == "x" && files[0]["size"] as? Int == 4
                && files[0]["contentType"] as? String == "text/plain")
        #expect(files[1]["size"] as? Int == big.count)
        #expect(files[1]["sha256"] as? String == Hex.encode(Cryptography.sha256(big)))
        #expect((files[2]["filename"] as? String)?.hasPrefix("caf") == true && (files[2]["filename"] as? String)?.hasSuffix(".txt") == true)
        await running.stop()
    }

    @Test("bad uploads answer clear 4xx: no boundary, truncated, 10,000 tiny parts, a boundary inside the data, not multipart")
    func badUploads() async throws {
        let running = try await InProcessSite.start(PorterApplication.porter, try ServerConfiguration.parse(toml: Self.toml, baseDirectory: "."))
        let http = running.site.client(timeout: .seconds(30))
        let cases: [(String, String, [UInt8], Int, String)] = [
            ("no boundary", "multipart/form-data", Self.part("name=\"a\"", [1]) + Self.closing, 400, "without a boundary"),
            ("truncated", Self.type, Array(Self.part("name=\"a\"; filename=\"f\"", [UInt8](repeating: 7, count: 100_000)).dropLast(2)), 400, "truncated"),
            ("10,000 tiny parts", Self.type, (0..<10_000).flatMap { Self.part("name=\"f\($0)\"", [0x76]) } + Self.closing, 400, "too many form fields (limit 20)"),
            ("5 files against 4", Self.type, (0..<5).flatMap { Self.part("name=\"f\"; filename=\"\($0)\"", [1]) } + Self.closing, 400, "too many files in the form (limit 4)"),
            ("boundary inside the data", Self.type, Self.part("name=\"a\"", Array("x\r\n--\(Self.boundary)junk".utf8)) + Self.closing, 400, "boundary inside the data"),
            ("big field", Self.type, Self.part("name=\"a\"", [UInt8](repeating: 0x61, count: 5000)) + Self.closing, 413, "form field \"a\" is larger than 4096 bytes"),
            ("not multipart", "application/json", Array("{}".utf8), 415, "send multipart/form-data"),
        ]
        for (name, type, body, status, fragment) in cases {
            let response = try await http.fetch("/upload", method: "POST", headers: ["Content-Type": type], body: body)
            #expect(response.status == status, "\(name): \(response.status) \(response.text.prefix(300))")
            #expect(response.text.contains(HTMLEscaping.escape(fragment)), "\(name): \(response.text.prefix(300))")
        }
        #expect(try await http.fetch("/upload", method: "POST", headers: ["Content-Type": Self.type],
                                     body: Self.part("name=\"a\"", [1]) + Self.closing).status == 200, "the server is fine afterwards")
        await running.stop()
    }

    @Test("a 200 MB part against the 16 MiB route limit: nginx refuses it from the headers (413), Porter never sees it; nothing is buffered")
    func hugePart() async throws {
        let running = try await InProcessSite.start(PorterApplication.porter, try ServerConfiguration.parse(toml: Self.toml, baseDirectory: "."))
        let accepted = running.server.statistics.acceptedRequests.load(ordering: .relaxed)
        let reply: [UInt8] = try await ConcurrentClients.offPool {
            let socket = try RawSocket(connectingTo: .tcp(host: "127.0.0.1", port: running.site.nginx.port))
            defer { socket.close() }
            let head = "POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Type: \(Self.type)\r\nContent-Length: \(200 << 20)\r\nConnection: close\r\n\r\n"
            try socket.write(Array(head.utf8) + Self.part("name=\"f\"; filename=\"big\"", []).dropLast(2))
            try? socket.write([UInt8](repeating: 0x5A, count: 1 << 20))   // the first MiB of 200; nginx answers without the rest
            return try socket.readUntilClosed(timeout: .seconds(30)).bytes
        }
        let text = String(decoding: reply, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 413"), "\(text.prefix(200))")
        #expect(running.server.statistics.acceptedRequests.load(ordering: .relaxed) == accepted, "Porter never saw the request")
        await running.stop()
    }
}
