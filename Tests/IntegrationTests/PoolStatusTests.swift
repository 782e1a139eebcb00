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

    /// Sends `count` /hello requests from 20 kept-alive clients at once; returns how many got 200.
    static func hellos(_ count: Int, _ site: NginxPorterSite) async -> Int {
        let results = await ConcurrentClients.run(20) { i in
            let http = site.client(keepAlive: true)
            var ok = 0
            for _ in 0..<(count / 20 + (i < count % 20 ? 1 : 0)) where (try? http.get("/hello").status) == 200 { ok += 1 }
            return ok
        }
        return results.map { (try? $0.get()) ?? 0 }.reduce(0, +)
    }

    @Test("--workers 3: 300 requests show `accepted conn` 300 whichever worker answers; a kill -9'd worker's count stays")
    func acceptedConnAcrossWorkers() async throws {
        let (porter, site, dir) = try await PorterProcessTests.start(arguments: ["--workers", "3"])
        // `start` sent one /hello already; 299 more, from 20 clients at once.
        #expect(await Self.hellos(299, site) == 299)
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

    /// The metrics module and `/metrics` (loopback only, as shipped).
    static let metricsTables = """
        [[modules]]
        name = "metrics"

        [[handlers]]
        verb = "GET"
        path = "/metrics"
        handler = "metrics"
        """

    /// The value of the sample `name` whose labels include every one of `labels` (`key="value"`), from `/metrics`.
    static func sample(_ text: String, _ name: String, _ labels: [String] = []) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let series = line[..<(line.lastIndex(of: " ") ?? line.endIndex)]
            if labels.allSatisfy({ series.contains($0) }) { return line.split(separator: " ").last.flatMap { Double($0) } }
        }
        return nil
    }

    @Test("--workers 3: /metrics sums every worker's swift-metrics series whichever answers; a killed or reloaded worker's counts stay")
    func metricsAcrossWorkers() async throws {
        let (porter, site, dir) = try await PorterProcessTests.start(arguments: ["--workers", "3"], tables: Self.metricsTables)
        // `start` sent one /hello already; 299 more, from 20 clients at once.
        #expect(await Self.hellos(299, site) == 299)
        let processes = try #require(try await Self.status(site, "full&json")["processes"] as? [[String: Any]])

        let hello = ["handler=\"hello\"", "route=\"/hello\""]
        func scrape() async throws -> String {
            let response = try await site.client().fetch("/metrics")
            #expect(response.status == 200, "metrics answered \(response.status)")
            return response.text
        }
        // Each worker publishes its series every second: wait until the pool's sum is whole.
        var text = ""
        try await waitUntil("the hello count on /metrics to reach 300: \(Self.sample(text, "porter_request_duration_seconds_count", hello) ?? -1)") {
            text = try await scrape()
            return Self.sample(text, "porter_request_duration_seconds_count", hello) == 300
        }
        // Every scrape from here on, whichever worker answers it, shows the whole pool's 300 hellos (the requests
        // usually spread over the workers; if not, the reload below still tells a pool's sum from one worker's).
        // In flight: the scrape itself, fresh from the answering worker, plus at most one stale request per other
        // worker (a gauge is as old as its worker's last publication).
        var counts: [Double] = [], inFlight: [Double] = []
        for _ in 0..<12 {
            text = try await scrape()
            counts.append(Self.sample(text, "porter_request_duration_seconds_count", hello) ?? -1)
            inFlight.append(Self.sample(text, "porter_requests_in_flight") ?? -1)
        }
        #expect(counts == Array(repeating: 300, count: 12), "\(counts)")
        #expect(inFlight.allSatisfy { $0 >= 1 && $0 <= 3 }, "\(inFlight)")
        #expect(text.components(separatedBy: "# TYPE porter_request_duration_seconds ").count == 2, "one family:\n\(text)")

        // kill -9 the busiest worker: the master folds what it published; the pool's count does not go down.
        let victim = try #require(processes.max { ($0["requests"] as? Int ?? 0) < ($1["requests"] as? Int ?? 0) }?["pid"] as? Int)
        kill(pid_t(victim), SIGKILL)
        try await waitUntil("a new worker to replace \(victim)") {
            let live = (try await Self.status(site, "full&json")["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
            return live.count == 3 && !live.contains(victim)
        }
        for _ in 0..<6 {
            text = try await scrape()
            #expect(Self.sample(text, "porter_request_duration_seconds_count", hello) == 300, "after the kill:\n\(text)")
        }

        // A reload drains every worker (each publishes once more after draining) and starts new ones: still 300,
        // and 10 more hellos served by the new generation add up to 310.
        let old = Set((try await Self.status(site, "full&json")["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int })
        porter.signal(SIGHUP)
        try await waitUntil("the reload to replace every worker") {
            let live = (try await Self.status(site, "full&json")["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
            return live.count == 3 && old.isDisjoint(with: live)
        }
        for _ in 0..<10 { #expect(try await site.client().fetch("/hello").status == 200) }
        try await waitUntil("the hello count to reach 310 after the reload: \(Self.sample(text, "porter_request_duration_seconds_count", hello) ?? -1)") {
            text = try await scrape()
            let count = Self.sample(text, "porter_request_duration_seconds_count", hello) ?? -1
            #expect(count >= 300, "a count went down after the reload: \(count)")
            return count == 310
        }
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
