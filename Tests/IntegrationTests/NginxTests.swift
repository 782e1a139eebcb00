import FastCGIWire
import Foundation
import Porter
import PorterFastCGI
import PorterHost
import PorterDemo
import PorterTesting
import Testing

/// The handler mappings the nginx-tier tests use, as a porter.toml would write them.
let integrationTOML = """
threads = 8
socket_mode = "0666"
log_level = "info"

[[modules]]
name = "errors"

[[handlers]]
verb = "GET,HEAD"
path = "/hello"
handler = "hello"

[[handlers]]
verb = "GET,HEAD"
path = "*.hello"
handler = "hello"

[[handlers]]
path = "/echo"
handler = "echo"

[[handlers]]
verb = "GET,HEAD"
path = "/slow"
handler = "slow"
max_ms = 5000

[[handlers]]
path = "/crash"
handler = "crash"
"""

func integrationConfiguration(socket: String, extra: String = "") throws -> (ServerConfiguration, String) {
    let text = "listen = \"\(socket)\"\n" + extra + "\n" + integrationTOML
    return (try ServerConfiguration.parse(toml: text, baseDirectory: "."), text)
}

let nginxAvailable = NginxHarness.isAvailable

@Suite("Through real nginx", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct NginxTests {
    /// An in-process Porter built from `integrationTOML` behind the shipped nginx site.
    static func site() throws -> (FastCGIServer, NginxPorterSite) {
        let dir = FastCGITestServer.makeShortTemporaryDirectory()
        let (configuration, _) = try integrationConfiguration(socket: dir + "/s")
        var logger = Logging.Logger(label: "porter.nginx-test")
        logger.logLevel = .warning
        let server = try PorterApplication.porter.build(configuration, logger: logger).makeServer(logger: logger)
        try server.start()
        let site = try NginxPorterSite(socketPath: dir + "/s", locations: try PorterApplication.porter.nginxLocations(for: configuration))
        return (server, site)
    }

    @Test("static files come from nginx; registry paths from Porter; HEAD; POST body; 404 and 405")
    func routing() async throws {
        let (server, site) = try Self.site()
        let http = site.client()
        let index = try await http.fetch("/index.html")
        #expect(index.status == 200 && index.text == "<h1>static</h1>\n")
        let hello = try await http.fetch("/hello")
        #expect(hello.status == 200 && hello.text == "Hello, world\n")
        #expect(try await http.fetch("/deep/x.HELLO").text == "Hello, world\n")
        #expect(try await http.fetch("/missing.txt").status == 404)
        let head = try await http.fetch("/hello", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty)
        let echo = try await http.fetch("/echo?x=%41", method: "POST", headers: ["Content-Type": "application/x-www-form-urlencoded"], body: Array("a=1&b=two+words".utf8))
        #expect(echo.status == 200)
        #expect(echo.text.contains(#""form":[["a","1"],["b","two words"]]"#))
        #expect(echo.text.contains(#""query":[["x","A"]]"#))
        #expect(echo.text.contains(#""REQUEST_ID""#), "nginx passes $request_id")
        let wrongVerb = try await http.fetch("/hello", method: "DELETE")
        #expect(wrongVerb.status == 405)
        #expect(wrongVerb.headers["Allow"] == "GET, HEAD")
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("keepalive: 64 clients on 8 threads through upstream keepalive; no request waits for an idle connection")
    func keepaliveDoesNotStarve() async throws {
        let (server, site) = try Self.site()
        let results = await ConcurrentClients.run(64) { _ -> Duration in
            let http = site.client(keepAlive: true)
            defer { http.close() }
            var worst: Duration = .zero
            for _ in 0..<100 {
                let start = ContinuousClock.now
                let r = try http.get("/hello")
                guard r.status == 200 else { throw HTTPError(.badGateway) }
                worst = max(worst, ContinuousClock.now - start)
            }
            return worst
        }
        let worst = results.compactMap { try? $0.get() }
        #expect(worst.count == 64, "every client finished")
        // libfcgi's thread-per-kept-connection model stalls here for ~1 s (nginx keepalive_requests) or 60 s.
        #expect(worst.max()! < .seconds(1), "slowest request \(worst.max()!)")
        #expect(server.statistics.parkedConnections.load(ordering: .relaxed) > 0, "nginx keeps connections, Porter parks them")
        let start = ContinuousClock.now
        #expect(try await site.client().fetch("/hello").status == 200)
        #expect(ContinuousClock.now - start < .milliseconds(500), "a plain request right after the load is answered at once")
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
    }

    @Test("the committed nginx/porter-locations.conf matches `porter nginx-config` for the demo configuration")
    func noDrift() throws {
        let committed = try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter-locations.conf", encoding: .utf8)
        let generated = try PorterApplication.porter.nginxLocations(for: try ServerConfiguration.load(path: NginxPorterSite.repositoryRoot + "/deploy/porter.toml"))
        #expect(committed == generated, "regenerate with: porter nginx-config --config deploy/porter.toml > nginx/porter-locations.conf")
    }

    @Test("the demo maps the same paths as deploy/porter.toml, so the committed nginx rules serve both")
    func demoMatchesDeployConfig() throws {
        let demo = try ServerConfiguration.parse(toml: DemoSetup.demoTOML, baseDirectory: "/srv/demo")
        let committed = try String(contentsOfFile: NginxPorterSite.repositoryRoot + "/nginx/porter-locations.conf", encoding: .utf8)
        #expect(try PorterApplication.porter.nginxLocations(for: demo) == committed)
    }
}

@Suite("The porter process behind nginx", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct PorterProcessTests {
    static func start(_ extra: String = "", arguments: [String] = []) async throws -> (PorterProcess, NginxPorterSite, TemporaryDirectory) {
        let dir = try TemporaryDirectory(prefix: "porter-p")
        let (configuration, text) = try integrationConfiguration(socket: dir.path("s"), extra: extra)
        let configPath = try dir.write(text, to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", configPath] + arguments, logPath: dir.path("porter.log"))
        #expect(try await ConcurrentClients.offPool { PorterProcess.waitForSocket(dir.path("s")) }, "porter started")
        let site = try NginxPorterSite(socketPath: dir.path("s"), locations: try PorterApplication.porter.nginxLocations(for: configuration))
        let probe = try await site.client().fetch("/hello")
        if probe.status != 200 {
            Issue.record("porter not answering through nginx (\(probe.status)).\nporter log:\n\(porter.log)\nnginx log:\n\(site.nginx.errorLog)")
        }
        return (porter, site, dir)
    }

    @Test("async handlers hold no thread: 200 concurrent 1 s requests finish in about 1 s on a small fixed thread count")
    func asyncThroughNginx() async throws {
        let (porter, site, dir) = try await Self.start()
        let threadsBefore = porter.threadCount ?? 0
        let start = ContinuousClock.now
        let results = await ConcurrentClients.run(200) { _ in try site.client(timeout: .seconds(20)).get("/slow?ms=1000").status }
        let elapsed = ContinuousClock.now - start
        #expect(results.allSatisfy { (try? $0.get()) == 200 })
        #expect(elapsed < .seconds(4), "200 × 1 s took \(elapsed)")
        let threads = porter.threadCount ?? 99
        #expect(threads <= 32, "threads: \(threadsBefore) before, \(threads) after")
        porter.signal(SIGTERM)
        #expect((try await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(10)) }) == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("SIGTERM drains: in-flight requests finish with 200 and the process exits 0")
    func sigtermDrains() async throws {
        let (porter, site, dir) = try await Self.start()
        let inflight = Task.detached { await ConcurrentClients.run(30) { _ in try site.client(timeout: .seconds(20)).get("/slow?ms=3000").status } }
        try await Task.sleep(for: .milliseconds(1500))
        porter.signal(SIGTERM)
        #expect((try await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(15)) }) == 0)
        let statuses = await inflight.value.map { (try? $0.get()) ?? -1 }
        #expect(statuses == [Int](repeating: 200, count: 30))
        #expect(porter.log.contains("draining"))
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("worker processes: a handler that traps costs only its request (502); the next request succeeds")
    func crashRespawn() async throws {
        let (porter, site, dir) = try await Self.start("workers = 2")
        let http = site.client()
        #expect(try await http.fetch("/hello").status == 200)
        let crashed = try await http.fetch("/crash?i=7")
        #expect(crashed.status == 502)
        for _ in 0..<20 { #expect(try await site.client().fetch("/hello").status == 200) }
        #expect(porter.log.contains("worker died; starting a new one"))
        porter.signal(SIGTERM)
        #expect((try await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(15)) }) == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("graceful reload (SIGHUP) under load: zero failed requests")
    func reloadUnderLoad() async throws {
        let (porter, site, dir) = try await Self.start("workers = 2")
        let load = Task.detached {
            await ConcurrentClients.run(16) { _ -> Int in
                let http = site.client(keepAlive: true)
                var failures = 0
                let end = ContinuousClock.now + .seconds(3)
                while ContinuousClock.now < end {
                    let status = (try? http.get("/hello").status) ?? -1
                    if status != 200 { failures += 1 }
                }
                return failures
            }
        }
        try await Task.sleep(for: .milliseconds(800))
        porter.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(800))
        porter.signal(SIGHUP)
        let failures = await load.value.map { (try? $0.get()) ?? 1 }.reduce(0, +)
        #expect(failures == 0)
        #expect(porter.log.contains("reloading"))
        porter.signal(SIGTERM)
        #expect((try await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(15)) }) == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("cgi-fcgi from libfcgi-bin talks to Porter", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/cgi-fcgi")))
    func cgiFcgi() async throws {
        let (porter, site, dir) = try await Self.start()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/cgi-fcgi")
        process.arguments = ["-bind", "-connect", dir.path("s")]
        process.environment = ["REQUEST_METHOD": "GET", "REQUEST_URI": "/hello", "SCRIPT_NAME": "/hello", "QUERY_STRING": ""]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("Status: 200 OK"))
        #expect(text.hasSuffix("Hello, world\n"))
        porter.signal(SIGTERM)
        _ = (try await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(10)) })
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("CGI mode: the same binary answers one request from its environment")
    func cgiMode() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-cgi")
        let (_, text) = try integrationConfiguration(socket: dir.path("unused"))
        let configPath = try dir.write(text, to: "porter.toml")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: PorterProcess.binaryPath())
        process.arguments = ["serve", "--config", configPath]
        process.environment = ["GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "POST", "REQUEST_URI": "/echo?q=1",
                               "QUERY_STRING": "q=1", "CONTENT_LENGTH": "5", "CONTENT_TYPE": "text/plain"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data("hello".utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        let reply = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(reply.hasPrefix("Status: 200 OK\r\n"))
        #expect(reply.contains(#""body":"hello""#))
    }
}

import Logging
