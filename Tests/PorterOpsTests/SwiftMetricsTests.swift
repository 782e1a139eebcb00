import Foundation
import Metrics
import Testing
import Porter
import PorterTesting
@testable import PorterOps

/// swift-metrics through Porter's Prometheus registry: what a handler records shows on `/metrics`.
@Suite struct SwiftMetricsTests {
    func pipeline(stats: RequestStatistics) throws -> Pipeline {
        let registry = try #require(PorterMetrics.setUp(.porter))
        var handlers = HandlerRegistry()
        try handlers.add(name: "metrics", verbs: "GET", path: "/metrics",
                         handler: MetricsHandler(sources: [FakeTransportStatus()], registry: registry))
        try handlers.add(name: "signup", verbs: "POST", path: "/signup", handler: ClosureHandler { ctx in
            Counter(label: "newsroom_signups_total", dimensions: [("plan", "free")]).increment()
            ctx.response.setText("welcome", status: .created)
        })
        return Pipeline(registry: handlers, modules: [MetricsModule(statistics: stats, recordsMetrics: true)])
    }

    @Test func aUsersCounterIncrementedInAHandlerShowsOnMetrics() async throws {
        let app = ApplicationState()
        let pipeline = try pipeline(stats: RequestStatistics())
        for _ in 0..<3 { #expect(await send(pipeline, "/signup", method: .post, application: app).response.status == .created) }
        let ctx = await send(pipeline, "/metrics", application: app)
        #expect(ctx.response.status == .ok)
        let text = ctx.bodyText
        let result = try await PrometheusTests().parseWithPrometheusClient(text)
        #expect(result.status == 0, "prometheus_client rejected the output: \(result.stderr)\n\(text)")
        let families = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: Any]])
        // The user's counter (other tests in this process may count too: at least our three).
        let signups = try #require(families["newsroom_signups"]?["samples"] as? [[Any]])
        let free = signups.first { ($0[1] as? [String: String])?["plan"] == "free" && ($0[0] as? String) == "newsroom_signups_total" }
        #expect(((free?[2] as? Double) ?? 0) >= 3)
        // Porter's own timer feeds the duration histogram, and it is exposed once (the registry's replaces the hand-written one).
        #expect(families["porter_request_duration_seconds"]?["type"] as? String == "histogram")
        #expect(text.components(separatedBy: "# TYPE porter_request_duration_seconds ").count == 2)
        let durations = try #require(families["porter_request_duration_seconds"]?["samples"] as? [[Any]])
        #expect(durations.contains { ($0[1] as? [String: String])?["handler"] == "signup" && ($0[1] as? [String: String])?["status_class"] == "2xx" })
        #expect(families["porter_requests_in_flight"]?["type"] as? String == "gauge")
        // The status-derived series keep their names.
        #expect(families["porter_requests_accepted"]?["type"] as? String == "counter")
        #expect(families["porter_worker_threads"]?["type"] as? String == "gauge")
    }

    @Test func setUpIsOncePerProcessAndExternalServesNoRegistry() {
        #expect(PorterMetrics.setUp(.external) == nil)
        let a = PorterMetrics.setUp(.porter), b = PorterMetrics.setUp(.porter)
        #expect(a === b && a === PorterMetrics.registry)
        #expect(PorterMetrics.isBootstrapped)
    }
}
