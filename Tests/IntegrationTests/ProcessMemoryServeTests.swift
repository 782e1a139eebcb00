import FastCGIWire
import PorterHost
import PorterTesting
import Testing
import Glibc

/// Issue 13 (idle footprint): a serving process drops the code pages only start-up ran, once started, and serves
/// on: routes first reached after the drop (a 404, a 405, HEAD) fault their code back in.
@Suite("A serving process releases start-up memory", .serialized)
struct ProcessMemoryServeTests {
    static let hello = "[[handlers]]\nverb = \"GET,HEAD\"\npath = \"/hello\"\nhandler = \"hello\"\n"

    @Test("single process and each of two workers log the release, then answer every kind of request", arguments: [0, 2])
    func releasesAndServes(workers: Int) async throws {
        let dir = try TemporaryDirectory(prefix: "porter-startup-memory")
        let config = try dir.write("listen = \"\(dir.path("s"))\"\nworkers = \(workers)\nthreads = 2\nlog_level = \"debug\"\n" + Self.hello,
                                   to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config], logPath: dir.path("porter.log"))
        defer { porter.signal(SIGTERM) }
        try await porter.waitForLog("released start-up memory", occurrences: max(1, workers))
        let lines = porter.log.split(separator: "\n").filter { $0.contains("released start-up memory") }
        #expect(lines.allSatisfy { !$0.contains("file_pages_kib=0 ") && !$0.contains("mappings=0") }, "\(lines)")
        let client = FastCGIClient(unixPath: dir.path("s"))
        let responses = try await ConcurrentClients.offPool { () throws(FastCGIClientError) -> [FastCGIResponse] in
            var all: [FastCGIResponse] = []
            for _ in 0..<50 { all.append(try client.send(.get("/hello"))) }
            all.append(try client.send(.get("/missing")))
            all.append(try client.send(FastCGIRequest(method: "POST", uri: "/hello", body: Array("x".utf8))))
            all.append(try client.send(FastCGIRequest(method: "HEAD", uri: "/hello")))
            return all
        }
        #expect(responses.prefix(50).allSatisfy { $0.status == 200 && $0.bodyText == "Hello, world\n" })
        #expect(responses.suffix(3).map(\.status) == [404, 405, 200])
        #expect(responses.last?.body.isEmpty == true, "HEAD has no body")
        // The process's read-only file mappings are readable from outside too (what `releaseAfterStartup()` would drop there).
        #expect(!ProcessMemory.readOnlyFileMappings(smaps: "/proc/\(porter.pid)/smaps").isEmpty)
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0, "\(porter.log)")
    }

    @Test("at log_level debug the service lifecycle names each service and never prints the configuration it holds")
    func debugLogNamesServicesOnly() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-debug-log")
        let marker = "greeting-kept-out-of-logs-7f3a"
        let config = try dir.write("listen = \"\(dir.path("s"))\"\nthreads = 2\nlog_level = \"debug\"\n"
                                   + Self.hello + "greeting = \"\(marker)\"\n", to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config], logPath: dir.path("porter.log"))
        defer { porter.signal(SIGTERM) }
        try await porter.waitForLog("released start-up memory")
        let hello = try await ConcurrentClients.offPool { try FastCGIClient(unixPath: dir.path("s")).send(.get("/hello")) }
        #expect(hello.bodyText == marker + "\n", "the option is in use")
        #expect(porter.log.contains("SingleProcessReload") && porter.log.contains("MemoryRelease"), "services are logged by name")
        #expect(!porter.log.contains(marker), "configuration values stay out of the log:\n\(porter.log)")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
    }

    @Test("freed heap goes back once per busy period, after traffic stops and never while a request runs")
    func heapReturnedWhenIdle() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-idle-trim")
        let slow = "[[handlers]]\nverb = \"GET\"\npath = \"/slow\"\nhandler = \"slow\"\nmax_ms = 10000\n"
        // The log module writes each request's line before the request stops counting as active.
        let config = try dir.write("listen = \"\(dir.path("s"))\"\nthreads = 2\nlog_level = \"debug\"\n[[modules]]\nname = \"log\"\n"
                                   + Self.hello + slow, to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config], logPath: dir.path("porter.log"))
        defer { porter.signal(SIGTERM) }
        let trim = "returned freed heap after traffic"
        try await porter.waitForLog("released start-up memory")
        #expect(porter.logCount(trim) == 0, "no traffic yet")
        let client = FastCGIClient(unixPath: dir.path("s"))
        func burst() async throws {
            let ok = try await ConcurrentClients.offPool { () throws(FastCGIClientError) -> Bool in
                var all = true
                for _ in 0..<20 { all = try client.send(.get("/hello")).status == 200 && all }
                return all
            }
            #expect(ok)
        }
        try await burst()
        try await porter.waitForLog(trim, occurrences: 1)
        // A request that runs longer than the quiet period: no trim while it is in flight, one after it ends.
        let slowStatus = try await ConcurrentClients.offPool { try FastCGIClient(unixPath: dir.path("s")).send(.get("/slow?ms=4000")).status }
        #expect(slowStatus == 200)
        try await porter.waitForLog(trim, occurrences: 2)
        let lines = porter.log.split(separator: "\n")
        let slowEnded = try #require(lines.firstIndex { $0.contains("path=/slow") }, "the /slow request's log line")
        let trims = lines.indices.filter { lines[$0].contains(trim) }
        #expect(trims.count == 2 && trims[1] > slowEnded, "the second trim only after /slow ended:\n\(porter.log)")
        try await burst()
        try await porter.waitForLog(trim, occurrences: 3)
        // Quiet for longer than the idle period and a few polls: nothing more to return, so no more trims.
        try await Task.sleep(for: .seconds(3))
        #expect(porter.logCount(trim) == 3, "one per busy period:\n\(porter.log)")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0, "\(porter.log)")
    }
}
