import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import FastCGIWire

/// The client over a real unix socket against ``ScriptedServer``.
@Suite struct FastCGIClientTests {
    func bodyLines(_ response: FastCGIResponse) -> [String: String] {
        var result: [String: String] = [:]
        for line in response.bodyText.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            result[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return result
    }

    @Test func getRoundTrip() throws {
        let server = try ScriptedServer()
        defer { server.stop() }
        let client = FastCGIClient(unixPath: server.path)
        let response = try client.send(FastCGIClient.Request.get("/news.rss?page=2", headers: ["Accept": "*/*"]))
        #expect(response.status == 200 && response.protocolStatus == .requestComplete && response.appStatus == 0)
        #expect(response.headers["content-type"] == "text/plain")
        let echoed = bodyLines(response)
        #expect(echoed["REQUEST_URI"] == "/news.rss?page=2")
        #expect(echoed["QUERY_STRING"] == "page=2")
        #expect(echoed["HTTP_ACCEPT"] == "*/*")
        #expect(!client.isConnected, "closed after a request without keep-conn")
    }

    @Test func keepConnectionReusesOneSocket() throws {
        let server = try ScriptedServer()
        defer { server.stop() }
        let client = FastCGIClient(unixPath: server.path)
        var first = FastCGIRequest.get("/one")
        first.keepConnection = true
        var second = FastCGIRequest.post("/two", text: "payload")
        second.keepConnection = true
        second.requestID = 2
        let a = try client.send(first)
        let b = try client.send(second)
        #expect(a.headers["X-Connection"] == "1" && b.headers["X-Connection"] == "1")
        #expect(b.bodyText.hasSuffix("--\npayload"))
        #expect(client.connectionsOpened == 1 && server.connections == 1)
        #expect(!client.waitForClose(timeout: .milliseconds(200)), "the server keeps the connection")
        client.close()
        _ = try client.send(.get("/three"))
        #expect(client.connectionsOpened == 2)
    }

    @Test func withoutKeepConnectionTheServerCloses() throws {
        let server = try ScriptedServer()
        defer { server.stop() }
        let client = FastCGIClient(unixPath: server.path)
        try client.sendRaw(FastCGIRequest.get("/").encoded())
        let response = try client.receiveResponse()
        #expect(response.status == 200)
        #expect(client.waitForClose(timeout: .seconds(60)), "the server closed (60 s is only a hang guard)")
    }

    @Test func largeChunkedStdoutAndStderr() throws {
        let body = [UInt8](repeating: 0x61, count: 200_000)
        let server = try ScriptedServer(.respond(stdout: Array("Status: 201 Created\r\n\r\n".utf8) + body,
                                                 stderr: Array("careful\n".utf8), appStatus: 7, chunk: 1000))
        defer { server.stop() }
        let response = try FastCGIClient(unixPath: server.path).send(.get("/big"))
        #expect(response.status == 201)
        #expect(response.body == body)
        #expect(response.stderr == "careful\n")
        #expect(response.appStatus == 7)
        #expect(response.records.filter { $0.type == .stdout }.count == 202)
    }

    @Test func invalidCGIOutputIs502LikeNginx() throws {
        let server = try ScriptedServer(.respond(stdout: Array("no headers here".utf8), stderr: [], appStatus: 0, chunk: 65535))
        defer { server.stop() }
        let response = try FastCGIClient(unixPath: server.path).send(.get("/"))
        #expect(response.status == 502)
        #expect(response.cgi == .failure(.missingHeaderTerminator))
        #expect(response.stdout == Array("no headers here".utf8))
    }

    @Test func closeBeforeEndRequestIsReported() throws {
        let server = try ScriptedServer(.closeWithoutEnd)
        defer { server.stop() }
        #expect {
            try FastCGIClient(unixPath: server.path).send(.get("/"))
        } throws: { error in
            guard case .closedBeforeEndRequest(let records) = error as? FastCGIClientError else { return false }
            return records.count == 1
        }
    }

    @Test func silentServerTimesOut() throws {
        let server = try ScriptedServer(.silent)
        defer { server.stop() }
        // The client's own timeout is what is tested: it must end the wait with `.timedOut`
        // (the server never answers and never closes).
        let client = FastCGIClient(unixPath: server.path, timeout: .milliseconds(300))
        #expect {
            try client.send(.get("/"))
        } throws: { error in
            guard case .timedOut = error as? FastCGIClientError else { return false }
            return true
        }
    }

    @Test func garbageFromServerIsAWireError() throws {
        let server = try ScriptedServer(.raw(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)))
        defer { server.stop() }
        #expect {
            try FastCGIClient(unixPath: server.path).send(.get("/"))
        } throws: { error in
            guard case .wire(.unsupportedVersion(0x48)) = error as? FastCGIClientError else { return false }
            return true
        }
    }

    /// A responder that writes a large answer before reading a large body must not deadlock the client.
    @Test func readsWhileWritingALargeBody() throws {
        let server = try ScriptedServer(.answerBeforeReading(size: 2_000_000))
        defer { server.stop() }
        let client = FastCGIClient(unixPath: server.path, timeout: .seconds(60))
        let response = try client.send(.post("/upload", body: [UInt8](repeating: 0x61, count: 2_000_000)))
        #expect(response.status == 200)
        #expect(response.body.count == 2_000_000)
    }

    @Test func getValues() throws {
        let server = try ScriptedServer()
        defer { server.stop() }
        let values = try FastCGIClient(unixPath: server.path).getValues(["FCGI_MPXS_CONNS", "FCGI_MAX_CONNS"])
        #expect(values == ["FCGI_MPXS_CONNS": "0", "FCGI_MAX_CONNS": "1"])
    }

    @Test func connectErrors() throws {
        // A socket path inside a fresh private directory: certainly missing, whatever else runs on the machine.
        var template = Array("/tmp/fcgiw-XXXXXX".utf8CString)
        let directory = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { rmdir(directory) }
        #expect {
            try FastCGIClient(unixPath: directory + "/missing/s").send(.get("/"))
        } throws: { error in
            guard case .socket(let socketError) = error as? FastCGIClientError else { return false }
            return socketError.kind == .connectFailed && socketError.errno == ENOENT
        }
        let longPath = "/tmp/" + String(repeating: "x", count: 120)
        #expect {
            try FastCGIClient(unixPath: longPath).send(.get("/"))
        } throws: { error in
            guard case .socket(let socketError) = error as? FastCGIClientError else { return false }
            return socketError.kind == .invalidAddress
        }
    }
}
