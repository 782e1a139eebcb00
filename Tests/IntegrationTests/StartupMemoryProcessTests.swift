import FastCGIWire
import PorterHost
import PorterTesting
import Testing
import Glibc

/// Issue 13 (idle footprint): a serving process drops the code pages only start-up ran, once started, and serves
/// on: routes first reached after the drop (a 404, a 405, HEAD) fault their code back in.
@Suite("A serving process releases start-up memory", .serialized)
struct StartupMemoryProcessTests {
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
        // The process's read-only file mappings are readable from outside too (what `release()` would drop there).
        #expect(!StartupMemory.readOnlyFileMappings(smaps: "/proc/\(porter.pid)/smaps").isEmpty)
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
        #expect(porter.log.contains("SingleProcessReload") && porter.log.contains("StartupMemoryRelease"), "services are logged by name")
        #expect(!porter.log.contains(marker), "configuration values stay out of the log:\n\(porter.log)")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
    }
}
