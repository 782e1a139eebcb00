import Foundation
import Synchronization
import PorterTesting
import Testing
import Porter
@testable import PorterOps

/// A stand-in for the transport's status source.
struct FakeTransportStatus: ServerStatusSource {
    func statusSnapshot() async -> ServerStatusSnapshot {
        var s = ServerStatusSnapshot(pool: "www", processManager: "master-worker", idleThreads: 6, busyThreads: 2, totalThreads: 8,
                                     parkedConnections: 11, listenQueue: 0, maxListenQueue: 3,
                                     workerProcesses: .init(active: 1, idle: 3))
        s.maxThreadsReached = 5
        return s
    }
}

func statusPipeline(stats: RequestStatistics, gate: TestGate = TestGate(), extraSources: [any ServerStatusSource] = []) throws -> Pipeline {
    var registry = HandlerRegistry()
    try registry.add(name: "status", verbs: "GET", path: "/status", handler: StatusHandler(sources: extraSources))
    try registry.add(name: "metrics", verbs: "GET", path: "/metrics", handler: MetricsHandler(sources: extraSources))
    try registry.add(name: "ping", verbs: "GET", path: "/ping", handler: PingHandler())
    try registry.add(name: "gated", verbs: "GET", path: "/gated", handler: AsyncClosureHandler { ctx in
        await gate.wait()
        ctx.response.setText("done", status: .ok)
    })
    try registry.add(name: "slow", verbs: "GET", path: "/slow", handler: AsyncClosureHandler { ctx in
        try await Task.sleep(for: .milliseconds(80))
        ctx.response.setText("slow", status: .ok)
    })
    try registry.add(name: "rss", verbs: "GET", path: "*.rss", handler: ClosureHandler { ctx in
        ctx.response.setText("<rss/>", status: .ok, contentType: "application/rss+xml")
    })
    try registry.add(name: "we\"ird\\name", verbs: "GET", path: "/weird", handler: ClosureHandler { _ in
        throw HTTPError(.badRequest)
    })
    return Pipeline(registry: registry, modules: [MetricsModule(statistics: stats)])
}

/// Parses `key: value` lines of the text status page.
func statusLines(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        out[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return out
}

@Suite struct StatusTests {
    @Test func activeGoesUpDuringASlowAsyncHandlerAndAcceptedCounts() async throws {
        let stats = RequestStatistics()
        let gate = TestGate()
        let app = ApplicationState()
        let pipeline = try statusPipeline(stats: stats, gate: gate)
        #expect(stats.activeRequests == 0 && stats.acceptedRequests == 0)
        let slow = Task { await send(pipeline, "/gated", application: app) }
        try await waitUntil("the gated request to reach its handler") { gate.waiting == 1 }
        #expect(stats.activeRequests == 1)
        let during = statusLines(await send(pipeline, "/status", application: app).bodyText)
        #expect(during["active requests"] == "2")   // the gated request and the status request itself
        #expect(during["accepted conn"] == "2")
        #expect(during["max active requests"] == "2")
        gate.open()
        let done = await slow.value
        #expect(done.response.status == .ok)
        #expect(stats.activeRequests == 0)
        let after = statusLines(await send(pipeline, "/status", application: app).bodyText)
        #expect(after["active requests"] == "1")
        #expect(after["accepted conn"] == "3")
        #expect(after["handler gated"] == "1")
        #expect(after["handler status"] == "1")
        #expect(after["pid"] == String(getpid()))
        #expect(after["start since"] != nil)
    }

    @Test func perHandlerCountsAndDurations() async throws {
        let stats = RequestStatistics(slowThreshold: .milliseconds(50))
        let app = ApplicationState()
        let pipeline = try statusPipeline(stats: stats)
        await send(pipeline, "/slow", application: app)
        for _ in 0..<3 { await send(pipeline, "/feeds/news.rss", application: app) }
        await send(pipeline, "/nothing-here", application: app)
        let s = stats.snapshot()
        // The /slow request awaited 80 ms, so it was slow however busy the machine; the others may have been
        // too on a busy machine (how long they took is not what is tested here).
        #expect((s.slowRequests ?? 0) >= 1)
        #expect(s.acceptedRequests == 5)
        #expect(s.handlerRequests == ["slow": 1, "rss": 3, "-": 1])
        let h = try #require(s.requestDurations)
        #expect(h.series[.init(handler: "rss", route: "*.rss", statusClass: "2xx")]?.count == 3)
        #expect(h.series[.init(handler: "-", route: "-", statusClass: "4xx")]?.count == 1)
        let slowSeries = try #require(h.series[.init(handler: "slow", route: "/slow", statusClass: "2xx")])
        #expect(slowSeries.sum >= 0.08, "the measured duration includes the handler's 80 ms await")
        #expect(slowSeries.bucketCounts[0] == 0)   // not in the 5 ms bucket
    }

    @Test func slowIsAtOrAboveTheThreshold() throws {
        let stats = RequestStatistics(slowThreshold: .milliseconds(50))
        stats.observe(handler: "a", route: "/a", status: 200, duration: .milliseconds(49))
        stats.observe(handler: "a", route: "/a", status: 200, duration: .milliseconds(50))
        stats.observe(handler: "b", route: "/b", status: 500, duration: .seconds(3))
        stats.observe(handler: "a", route: "/a", status: 200, duration: .microseconds(10))
        let s = stats.snapshot()
        #expect(s.slowRequests == 2)
        let h = try #require(s.requestDurations)
        #expect(h.series[.init(handler: "a", route: "/a", statusClass: "2xx")]?.count == 3)
        let b = try #require(h.series[.init(handler: "b", route: "/b", statusClass: "5xx")])
        #expect(b.count == 1 && b.sum == 3)
        #expect(b.bucketCounts[try #require(h.bounds.firstIndex(of: 5))] == 1, "3 s falls in the 5 s bucket")
    }

    @Test func endRequestNeverUnderflowsWhenBeginRequestWasSkipped() async throws {
        let stats = RequestStatistics()
        var registry = HandlerRegistry()
        try registry.add(name: "x", path: "/x", handler: PingHandler())
        let failing = ClosureModule(name: "failFirst") { events in
            events.on(.beginRequest) { _ in throw HTTPError(.forbidden) }
        }
        let pipeline = Pipeline(registry: registry, modules: [failing, MetricsModule(statistics: stats)])
        let ctx = await send(pipeline, "/x", application: ApplicationState())
        #expect(ctx.response.status == .forbidden)
        #expect(stats.activeRequests == 0)
        #expect(stats.snapshot().handlerRequests == ["-": 1])
    }

    @Test func jsonFormat() async throws {
        let stats = RequestStatistics()
        let app = ApplicationState()
        ServerStatusSources.register(FakeTransportStatus(), in: app)
        let pipeline = try statusPipeline(stats: stats)
        await send(pipeline, "/ping", application: app)
        for query in ["?json", "?format=json"] {
            let ctx = await send(pipeline, "/status" + query, application: app)
            #expect(ctx.response.headers["Content-Type"]?.hasPrefix("application/json") == true)
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(ctx.response.bufferedBody ?? [])) as? [String: Any])
            #expect((obj["accepted conn"] as? Int).map { $0 >= 2 } == true)
            #expect(obj["active_requests"] as? Int == 1)
            #expect(obj["parked_connections"] as? Int == 11)
            #expect(obj["pool"] as? String == "www")
            #expect(obj["idle processes"] as? Int == 3 && obj["active processes"] as? Int == 1 && obj["total processes"] as? Int == 4)
            #expect((obj["handler_requests"] as? [String: Int])?["ping"] == 1)
            #expect(obj["start time"] is Int && obj["start since"] is Int)
            #expect(obj["pid"] as? Int == Int(getpid()))
        }
        let bad = await send(pipeline, "/status?format=yaml", application: app)
        #expect(bad.response.status == .badRequest)
    }

    @Test func textMergesTheTransportSource() async throws {
        let stats = RequestStatistics()
        let app = ApplicationState()
        let pipeline = try statusPipeline(stats: stats, extraSources: [FakeTransportStatus()])
        let lines = statusLines(await send(pipeline, "/status", application: app).bodyText)
        #expect(lines["pool"] == "www" && lines["process manager"] == "master-worker")
        #expect(lines["idle threads"] == "6" && lines["busy threads"] == "2" && lines["total threads"] == "8")
        #expect(lines["max threads reached"] == "5")
        #expect(lines["parked connections"] == "11" && lines["max listen queue"] == "3")
        #expect(lines["active processes"] == "1" && lines["total processes"] == "4")
        #expect(lines["accepted conn"] == "1")
    }

    @Test func ping() async throws {
        let pipeline = try statusPipeline(stats: RequestStatistics())
        let ctx = await send(pipeline, "/ping", application: ApplicationState())
        #expect(ctx.response.status == .ok)
        #expect(ctx.bodyText == "pong")
        #expect(ctx.response.headers["Content-Type"]?.hasPrefix("text/plain") == true)
        #expect(try PingHandler(options: Options(["response": .string("ok")])).response == "ok")
    }

    @Test func accessOptions() async throws {
        var registry = HandlerRegistry()
        try registry.add(name: "status", path: "/status", handler: try StatusHandler(options: Options(["local_only": .bool(true)])))
        let pipeline = Pipeline(registry: registry, modules: [MetricsModule()])
        #expect(await send(pipeline, "/status", remote: "192.0.2.1", application: ApplicationState()).response.status == .forbidden)
        #expect(await send(pipeline, "/status", remote: "::1", application: ApplicationState()).response.status == .ok)
        #expect(throws: ConfigurationError.self) { try StatusHandler(options: Options(["metric_prefix": .string("9bad")])) }
        #expect(throws: ConfigurationError.self) { try MetricsModule(options: Options(["buckets": .array([.string("x")])])) }
        #expect(throws: ConfigurationError.self) { try MetricsModule(options: Options(["slow_request_seconds": .int(-1)])) }
        let m = try MetricsModule(options: Options(["slow_request_seconds": .double(0.25), "buckets": .array([.double(0.5), .int(1), .double(0.1)])]))
        #expect(m.statistics.slowThreshold == .milliseconds(250))
        #expect(m.statistics.snapshot().requestDurations?.bounds == [0.1, 0.5, 1])
    }
}

@Suite struct PrometheusTests {
    /// Parses exposition text with the Python `prometheus_client` parser; returns the checker's report.
    func parseWithPrometheusClient(_ text: String) async throws -> ProgramResult {
        let script = #"""
        import json, sys
        from prometheus_client.parser import text_string_to_metric_families
        text = sys.stdin.read()
        out = {}
        for fam in text_string_to_metric_families(text):
            samples = [[s.name, s.labels, s.value] for s in fam.samples]
            out[fam.name] = {"type": fam.type, "samples": samples}
            if fam.type == "histogram":
                series = {}
                for name, labels, value in samples:
                    key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
                    series.setdefault(key, {"buckets": [], "count": None})
                    if name.endswith("_bucket"):
                        series[key]["buckets"].append((float(labels["le"]), value))
                    elif name.endswith("_count"):
                        series[key]["count"] = value
                for key, s in series.items():
                    b = s["buckets"]
                    assert b == sorted(b), f"buckets out of order for {key}"
                    assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), f"not cumulative: {key}"
                    assert b[-1][0] == float("inf") and b[-1][1] == s["count"], f"+Inf != count for {key}"
        print(json.dumps(out))
        """#
        let python = try #require(findExecutable("python3"))
        return try await runProgram(python, ["-c", script], stdin: text)
    }

    @Test(arguments: ["/metrics", "/status?format=prometheus"])
    func exposition(path: String) async throws {
        let stats = RequestStatistics()
        let app = ApplicationState()
        let pipeline = try statusPipeline(stats: stats, extraSources: [FakeTransportStatus()])
        await send(pipeline, "/feeds/a.rss", application: app)
        await send(pipeline, "/weird", application: app)
        await send(pipeline, "/slow", application: app)
        await send(pipeline, "/missing", application: app)
        let ctx = await send(pipeline, path, application: app)
        #expect(ctx.response.status == .ok)
        #expect(ctx.response.headers["Content-Type"] == PrometheusExposition.contentType)
        let text = ctx.bodyText
        #expect(text.contains("# TYPE porter_requests_accepted_total counter"))
        #expect(text.contains("# TYPE porter_request_duration_seconds histogram"))
        let result = try await parseWithPrometheusClient(text)
        #expect(result.status == 0, "prometheus_client rejected the output: \(result.stderr)\n\(text)")
        let families = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: Any]])
        #expect(families["porter_requests_accepted"]?["type"] as? String == "counter")
        #expect(families["porter_requests_active"]?["type"] as? String == "gauge")
        #expect(families["porter_worker_threads"]?["type"] as? String == "gauge")
        #expect(families["porter_parked_connections"]?["type"] as? String == "gauge")
        #expect(families["porter_request_duration_seconds"]?["type"] as? String == "histogram")
        let handlerSamples = try #require(families["porter_handler_requests"]?["samples"] as? [[Any]])
        let handlers = Set(handlerSamples.compactMap { ($0[1] as? [String: String])?["handler"] })
        #expect(handlers.contains("we\"ird\\name"))   // escaped on output, restored by the parser
        #expect(handlers.isSuperset(of: ["rss", "slow", "-"]))
        let histogram = try #require(families["porter_request_duration_seconds"]?["samples"] as? [[Any]])
        let classes = Set(histogram.compactMap { ($0[1] as? [String: String])?["status_class"] })
        #expect(classes.isSuperset(of: ["2xx", "4xx"]))
        let routes = Set(histogram.compactMap { ($0[1] as? [String: String])?["route"] })
        #expect(routes.isSuperset(of: ["*.rss", "/slow", "/weird", "-"]))
    }

    @Test func parserRejectsBrokenOutputSoTheCheckCanFail() async throws {
        let result = try await parseWithPrometheusClient("# TYPE x counter\nx_total{a=\"unterminated} 1\n")
        #expect(result.status != 0)
    }
}
