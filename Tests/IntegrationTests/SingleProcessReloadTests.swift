import Foundation
import Porter
import PorterTesting
import Synchronization
import Testing
import Glibc

/// SIGHUP in single-process mode reloads the configuration in the same process.
@Suite("Reload in single-process mode (SIGHUP)", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct SingleProcessReloadTests {
    static func pool(_ site: NginxPorterSite) async throws -> (pool: String?, pid: String?) {
        let lines = statusLines(try await site.client().fetch("/pool-status").text)
        return (lines["pool"], lines["pid"])
    }

    @Test("an option changed in the file shows after SIGHUP; same pid; a request in flight finishes on the old pipeline; a broken file keeps the old one")
    func reloadSwapsThePipeline() async throws {
        let tables = """
            [[handlers]]
            verb = "GET"
            path = "/pool-status"
            handler = "status"
            pool = "before"
            """
        let (porter, site, dir) = try await PorterProcessTests.start(tables: tables)
        let configPath = dir.path("porter.toml")
        let original = try String(contentsOfFile: configPath, encoding: .utf8)
        #expect(try await Self.pool(site) == ("before", String(porter.pid)))

        // A request that stays in its handler across the reload (20 s: a hang guard, it is seen in flight first).
        // Its blocking client runs on its own thread: a blocked cooperative thread would stall this test's waits.
        let inFlight = Task { try await ConcurrentClients.offPool { try site.client().get("/slow-hold?ms=20000") } }
        try await waitUntil("the slow request in flight") { try await PorterProcessTests.activeRequests(dir) == 2 }

        try original.replacingOccurrences(of: "pool = \"before\"", with: "pool = \"after\"")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        porter.signal(SIGHUP)
        try await porter.waitForLog("reloaded: new requests use the new configuration")
        #expect(try await Self.pool(site) == ("after", String(porter.pid)), "same process, new option")
        let slow = try await inFlight.value
        #expect(slow.status == 200 && slow.text == "Hello, world\n", "the request in flight finished on the old pipeline")
        try await porter.waitForLog("reload: the previous configuration's requests finished")

        // A file that does not load: logged, the running configuration stays.
        try (original + "\n[[handlers]]\npath = \"/x\"\nhandler = \"no-such-handler\"\n").write(toFile: configPath, atomically: true, encoding: .utf8)
        porter.signal(SIGHUP)
        try await porter.waitForLog("reload refused")
        #expect(try await Self.pool(site) == ("after", String(porter.pid)))
        try "this is = = not toml".write(toFile: configPath, atomically: true, encoding: .utf8)
        porter.signal(SIGHUP)
        try await porter.waitForLog("reload refused", occurrences: 2)
        #expect(try await site.client().fetch("/hello").status == 200)

        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }
}
