import Foundation
import Porter
import PorterTesting
import Synchronization
import Testing
import Glibc

/// `/status` with PHP-FPM's fields, summed over every worker process through the shared scoreboard.
@Suite("Pool status through nginx (PHP-FPM's fields, every worker)", .enabled(if: nginxAvailable, "nginx is not installed"), .serialized)
struct PoolStatusTests {
    /// The status page as JSON, through nginx.
    static func status(_ site: NginxPorterSite, _ query: String = "json") async throws -> [String: Any] {
        let response = try await site.client().fetch("/status?" + query)
        #expect(response.status == 200, "status answered \(response.status): \(response.text)")
        return try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    @Test("--workers 3: 300 requests show `accepted conn` 300 whichever worker answers; a kill -9'd worker's count stays")
    func acceptedConnAcrossWorkers() async throws {
        let (porter, site, dir) = try await PorterProcessTests.start(arguments: ["--workers", "3"])
        // `start` sent one /hello already; 299 more, from 20 clients at once.
        let results = await ConcurrentClients.run(20) { i in
            let http = site.client(keepAlive: true)
            var ok = 0
            for _ in 0..<(i < 19 ? 15 : 14) where (try? http.get("/hello").status) == 200 { ok += 1 }
            return ok
        }
        #expect(results.map { (try? $0.get()) ?? 0 }.reduce(0, +) == 299)
        // Every status request counts itself too (as PHP-FPM's does): the n-th shows 300 + n.
        var statusCalls = 0
        var object: [String: Any] = [:]
        try await waitUntil("accepted conn to reach 300 (+ status requests): \(object["accepted conn"] ?? "-")") {
            statusCalls += 1
            object = try await Self.status(site)
            return (object["accepted conn"] as? Int ?? 0) >= 300 + statusCalls
        }
        #expect(object["accepted conn"] as? Int == 300 + statusCalls)
        #expect(object["process manager"] as? String == "master-worker")
        #expect(object["total processes"] as? Int == 3)
        #expect(object["active processes"] as? Int == 1, "the process answering this status request")
        #expect(object["idle processes"] as? Int == 2)
        #expect(object["pool"] as? String == "www")
        for key in ["start time", "start since", "listen queue", "max listen queue", "listen queue len", "max active processes",
                    "max children reached", "slow requests"] {
            #expect(object[key] is Int, "\(key) is a number")
        }
        #expect(object["processes"] == nil, "per-process blocks only with ?full")

        // ?full lists the three workers, all children of the master, whose requests add up to the pool's.
        statusCalls += 1
        let full = try await Self.status(site, "full&json")
        let processes = try #require(full["processes"] as? [[String: Any]])
        #expect(processes.count == 3)
        let pids = processes.compactMap { $0["pid"] as? Int }
        #expect(Set(pids).count == 3 && !pids.contains(Int(porter.pid)))
        #expect(processes.compactMap { $0["requests"] as? Int }.reduce(0, +) == 300 + statusCalls)
        #expect(processes.allSatisfy { ["Idle", "Running"].contains($0["state"] as? String ?? "") && $0["request uri"] is String
                                           && $0["request duration"] is Int && $0["start time"] is Int })
        #expect(processes.contains { $0["request uri"] as? String == "/status?full&json" && $0["state"] as? String == "Running" })

        // kill -9 the busiest worker: the master replaces it and keeps its count; the total never goes down.
        let victim = try #require(processes.max { ($0["requests"] as? Int ?? 0) < ($1["requests"] as? Int ?? 0) }?["pid"] as? Int)
        let before = 300 + statusCalls
        kill(pid_t(victim), SIGKILL)
        var seen: [Int] = []
        try await waitUntil("a new worker to replace \(victim) (seen: \(seen.suffix(3)))") {
            statusCalls += 1
            let now = try await Self.status(site, "full&json")
            seen.append(now["accepted conn"] as? Int ?? -1)
            let live = (now["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
            return live.count == 3 && !live.contains(victim)
        }
        #expect(seen == Array((before + 1)...(before + seen.count)), "every status request adds one, none goes down: \(seen)")
        try await porter.waitForLog("worker died; starting a new one")

        // The text page carries PHP-FPM's keys under PHP-FPM's names.
        statusCalls += 1
        let text = statusLines(try await site.client().fetch("/status").text)
        #expect(text["accepted conn"] == String(300 + statusCalls))
        #expect(text["total processes"] == "3" && text["pool"] == "www")
        #expect(text["start time"]?.contains("/") == true, "PHP-FPM's dd/Mon/yyyy:hh:mm:ss +zzzz")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }

    @Test("single-process mode reports the same fields from its own process; the pool option names the pool")
    func singleProcess() async throws {
        let (porter, site, dir) = try await PorterProcessTests.start(tables: """
            [[handlers]]
            verb = "GET"
            path = "/pool-status"
            handler = "status"
            pool = "images"
            """)
        let full = try await Self.status(site, "full&json")
        #expect(full["process manager"] as? String == "single")
        #expect(full["total processes"] as? Int == 1 && full["active processes"] as? Int == 1 && full["idle processes"] as? Int == 0)
        #expect(full["accepted conn"] as? Int == 2, "start's /hello and this request")
        let processes = try #require(full["processes"] as? [[String: Any]])
        #expect(processes.compactMap { $0["pid"] as? Int } == [Int(porter.pid)])
        #expect(try await site.client().fetch("/status?full&format=yaml").status == 400)
        let named = statusLines(try await site.client().fetch("/pool-status?full").text)
        #expect(named["pool"] == "images")
        #expect(named["pid"] == String(porter.pid) && named["state"] == "Running")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        site.stop()
        withExtendedLifetime(dir) {}
    }
}

/// Parses `key: value` lines of a text status page (the first occurrence of a key wins).
func statusLines(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let key = String(line[..<colon])
        if out[key] == nil { out[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces) }
    }
    return out
}
