import FastCGIWire
import Foundation
import Porter
import PorterFastCGI
import PorterHost
import PorterDemo
import PorterTesting
import Synchronization
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

/// The configuration text: `extra` top-level settings first, then `integrationTOML`, then `tables` (more
/// `[[handlers]]`/`[[modules]]`).
func integrationConfiguration(socket: String, extra: String = "", tables: String = "") throws -> (ServerConfiguration, String) {
    let text = "listen = \"\(socket)\"\n" + extra + "\n" + integrationTOML + "\n" + tables
    return (try ServerConfiguration.parse(toml: text, baseDirectory: "."), text)
}

let nginxAvailable = NginxHarness.isAvailable

@Suite("Through real nginx", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct NginxTests {
    /// An in-process Porter built from `integrationTOML` (plus `tables`, with the test's own `handlers`)
    /// behind the shipped nginx site.
    static func site(tables: String = "", handlers: (inout HandlerCatalog) -> Void = { _ in }) throws -> (FastCGIServer, NginxPorterSite) {
        let dir = FastCGITestServer.makeShortTemporaryDirectory()
        let (configuration, _) = try integrationConfiguration(socket: dir + "/s", tables: tables)
        var app = PorterApplication.porter
        app.register { handlers(&$0.handlers) }
        var logger = Logging.Logger(label: "porter.nginx-test")
        logger.logLevel = .warning
        let server = try app.build(configuration, logger: logger).makeServer(logger: logger)
        try server.start()
        let site = try NginxPorterSite(socketPath: dir + "/s", locations: try app.nginxLocations(for: configuration))
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

    @Test("keepalive: 64 clients on at most 8 threads through upstream keepalive; more idle kept connections than threads, none waits")
    func keepaliveDoesNotStarve() async throws {
        let gate = TestGate()
        let (server, site) = try Self.site(tables: """
            [[handlers]]
            verb = "GET"
            path = "/gated"
            handler = "gated"
            """) { handlers in
            handlers.register("gated", summary: "waits at the test's gate") { _, _ in
                .instance(.async(AsyncClosureHandler { ctx in
                    try await gate.pass()
                    ctx.response.write("through\n")
                }))
            }
        }
        let statistics = server.statistics
        // `threads = 8` is the most there can be (one per CPU run unless some block): compare with the most.
        let threads = server.configuration.threads
        #expect(threads == 8 && statistics.startedThreads.load(ordering: .relaxed) <= threads)
        // Warm-up: 64 requests inside the handler at once make nginx open 64 upstream connections; once they
        // finish it keeps up to 32 of them (`keepalive 32`), idle: more kept connections than Porter has threads.
        let warmUp = Task { await ConcurrentClients.run(64) { _ in try site.client().get("/gated").status } }
        try await waitUntil("64 requests at the gate (now \(gate.waiting))") { gate.waiting == 64 }
        gate.open()
        #expect(await warmUp.value.allSatisfy { (try? $0.get()) == 200 })
        try await waitUntil("more parked connections than threads (parked: \(statistics.parkedConnections.load(ordering: .relaxed)))") {
            statistics.parkedConnections.load(ordering: .relaxed) > threads
        }
        // With idle kept connections holding threads (libfcgi's model), requests on the other connections would
        // wait for one to close. What proves they do not is the parked count above the thread count while all
        // 6400 requests are served; a stall of nginx's 60 s keepalive timeout would also hit each exchange's hang guard.
        let results = await ConcurrentClients.run(64) { _ -> Int in
            let http = site.client(keepAlive: true)
            defer { http.close() }
            for _ in 0..<100 {
                let r = try http.get("/hello")
                guard r.status == 200 else { throw HTTPError(.badGateway) }
            }
            return 100
        }
        let failures = results.compactMap { result -> String? in
            if case .failure(let error) = result { return "\(error)" } else { return nil }
        }
        #expect(failures.isEmpty, "every client finished; \(failures.count) did not, e.g. \(failures.first ?? "")")
        try await waitUntil("the load's connections parked again (parked: \(statistics.parkedConnections.load(ordering: .relaxed)))") {
            statistics.parkedConnections.load(ordering: .relaxed) > threads
        }
        // A plain request right after the load is answered while more connections are kept than there are threads.
        #expect(try await site.client().fetch("/hello").status == 200)
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
    /// How long the long-running `/slow` requests of these tests sleep: only a hang guard for "all of them
    /// are in flight at once" (they are counted on the status page long before), never a measurement.
    static let holdMilliseconds = 20_000

    /// The status page (with the transport's counters) and a `/slow` that may sleep for ``holdMilliseconds``.
    static let statusTables = """
        [[handlers]]
        verb = "GET"
        path = "/status"
        handler = "status"

        [[handlers]]
        verb = "GET"
        path = "/slow-hold"
        handler = "slow"
        max_ms = 60000
        """

    static func start(_ extra: String = "", arguments: [String] = [], tables: String = "") async throws -> (PorterProcess, NginxPorterSite, TemporaryDirectory) {
        let dir = try TemporaryDirectory(prefix: "porter-p")
        let (configuration, text) = try integrationConfiguration(socket: dir.path("s"), extra: extra, tables: statusTables + "\n" + tables)
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

    /// The porter process's requests in flight (the status request itself included), from its status page,
    /// asked over FastCGI on its own socket.
    static func activeRequests(_ dir: TemporaryDirectory) async throws -> Int {
        let response = try await ConcurrentClients.offPool { try FastCGIClient(unixPath: dir.path("s")).send(.get("/status?json")) }
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return object?["active_requests"] as? Int ?? -1
    }

    @Test("async handlers hold no thread: 200 concurrent requests are all inside their await at once, on at most 32 OS threads")
    func asyncThroughNginx() async throws {
        let (porter, site, dir) = try await Self.start()
        let threadsBefore = porter.threadCount ?? 0
        // From four loopback addresses: the site lets one client have 64 requests in progress (limit_conn porter_addr).
        let port = site.nginx.port
        let load = Task.detached {
            await ConcurrentClients.run(200) { i in
                try SourceBoundRequest.get(port: port, path: "/slow-hold?ms=\(Self.holdMilliseconds)", from: "127.0.0.\(1 + i % 4)",
                                           timeoutSeconds: Self.holdMilliseconds / 1000 + 120).status
            }
        }
        // Every handler is suspended in its await at the same moment; the process's thread count, sampled all
        // along, stays small and fixed.
        var maxThreads = threadsBefore
        var active = 0
        try await waitUntil("200 requests in flight in porter (active: \(active), threads seen: \(maxThreads))") {
            maxThreads = max(maxThreads, porter.threadCount ?? 99)
            active = try await Self.activeRequests(dir)
            return active == 201
        }
        maxThreads = max(maxThreads, porter.threadCount ?? 99)
        #expect(maxThreads <= 32, "threads: \(threadsBefore) before, at most \(maxThreads) with 200 requests in flight")
        let results = await load.value
        #expect(results.allSatisfy { (try? $0.get()) == 200 }, "\(results.filter { (try? $0.get()) != 200 }.count) requests did not get 200")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("SIGTERM drains: in-flight requests finish with 200 and the process exits 0")
    func sigtermDrains() async throws {
        // The drain limit is far beyond the requests' sleep: draining, not the limit, ends them.
        let (porter, site, dir) = try await Self.start("drain_timeout_seconds = 300")
        let inflight = Task.detached {
            await ConcurrentClients.run(30) { _ in try site.client().get("/slow-hold?ms=\(Self.holdMilliseconds)").status }
        }
        var active = 0
        try await waitUntil("30 requests in flight in porter (active: \(active))") {
            active = try await Self.activeRequests(dir)
            return active == 31
        }
        porter.signal(SIGTERM)
        let status = await porter.exitStatus()
        #expect(status == 0, "exit status \(String(describing: status)); porter: \(porter.log)")
        let statuses = await inflight.value.map { (try? $0.get()) ?? -1 }
        #expect(statuses == [Int](repeating: 200, count: 30), "porter: \(porter.log)\nnginx: \(site.nginx.errorLog)")
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
        try await porter.waitForLog("worker died; starting a new one")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("graceful reload (SIGHUP) under load: zero failed requests")
    func reloadUnderLoad() async throws {
        let (porter, site, dir) = try await Self.start("workers = 2")
        let stop = Atomic<Bool>(false)
        let served = Atomic<Int>(0)
        let load = Task.detached {
            await ConcurrentClients.run(16) { _ -> [String] in
                let http = site.client(keepAlive: true)
                var failures: [String] = []
                while !stop.load(ordering: .relaxed) {
                    do {
                        let response = try http.get("/hello")
                        if response.status == 200 { served.add(1, ordering: .relaxed) } else { failures.append("status \(response.status)") }
                    } catch {
                        failures.append("\(error)")
                    }
                }
                return failures
            }
        }
        defer { stop.store(true, ordering: .relaxed) }
        // Two reloads, each while requests keep flowing before, during and after it.
        for reload in 1...2 {
            let before = served.load(ordering: .relaxed)
            try await waitUntil("requests served before reload \(reload)") { served.load(ordering: .relaxed) >= before + 200 }
            porter.signal(SIGHUP)
            try await porter.waitForLog("reloading", occurrences: reload)
            let after = served.load(ordering: .relaxed)
            try await waitUntil("requests served after reload \(reload)") { served.load(ordering: .relaxed) >= after + 200 }
        }
        stop.store(true, ordering: .relaxed)
        let failures = await load.value.flatMap { (try? $0.get()) ?? ["client thread failed"] }
        #expect(failures.isEmpty, "\(failures.count) failed requests: \(failures.prefix(3)); nginx error log:\n\(site.nginx.errorLog.suffix(1500))\nporter log:\n\(porter.log.suffix(3000))")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
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
        // Read to the end and reap on a thread of our own (never blocking the cooperative pool).
        let text = try await ConcurrentClients.offPool {
            let data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(text.contains("Status: 200 OK"))
        #expect(text.hasSuffix("Hello, world\n"))
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
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
        let reply = try await ConcurrentClients.offPool {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(process.terminationStatus == 0)
        #expect(reply.hasPrefix("Status: 200 OK\r\n"))
        #expect(reply.contains(#""body":"hello""#))
    }
}

import Logging
