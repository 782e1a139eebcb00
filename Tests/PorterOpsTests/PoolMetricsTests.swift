import Foundation
import Prometheus
import PorterFastCGI
import Testing
@testable import PorterOps

/// The pool's `/metrics` with `workers > 0` sums the workers' swift-prometheus registries (`PrometheusText.sum`):
/// checked on real registries against one registry that recorded everything, through prometheus_client's parser.
@Suite struct PoolMetricsTests {
    /// A registry that recorded `signups` sign-ups (by plan), `inFlight` requests in flight and `durations`.
    static func registry(signups: [String: Int64], inFlight: Double, durations: [Duration]) -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        for (plan, n) in signups.sorted(by: { $0.key < $1.key }) {
            registry.makeCounter(descriptor: .init(metricName: "signups", unitName: "total", helpText: "Sign-ups."), labels: [("plan", plan)]).increment(by: n)
        }
        registry.makeGauge(descriptor: .init(metricName: "porter_requests_in_flight", unitName: "", helpText: "")).set(inFlight)
        let histogram = registry.makeDurationHistogram(descriptor: .init(metricName: "porter_request_duration", unitName: "seconds", helpText: "How long."),
                                                       labels: [("handler", "hello")],
                                                       buckets: [.milliseconds(5), .milliseconds(50), .seconds(1)])
        for d in durations { histogram.record(d) }
        return registry
    }

    /// prometheus_client's reading of `text`: every sample as "name{sorted labels}" → value.
    static func samples(_ text: String) async throws -> [String: Double] {
        let result = try await PrometheusTests().parseWithPrometheusClient(text)
        #expect(result.status == 0, "prometheus_client rejected:\n\(result.stderr)\n\(text)")
        let families = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [String: Any]])
        var out: [String: Double] = [:]
        for family in families.values {
            for sample in family["samples"] as? [[Any]] ?? [] {
                let labels = (sample[1] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                out["\(sample[0]){\(labels.joined(separator: ","))}"] = sample[2] as? Double
            }
        }
        return out
    }

    /// The same samples, values equal but for the rounding of a sum added up in another order.
    static func same(_ a: [String: Double], _ b: [String: Double]) -> Bool {
        a.keys.sorted() == b.keys.sorted() && a.allSatisfy { abs($0.value - b[$0.key]!) <= 1e-9 * max(1, abs($0.value)) }
    }

    @Test("two workers' registries sum to one that recorded both; a gone worker's gauge is dropped, its counters stay")
    func sumsLikeOneRegistry() async throws {
        let a = Self.registry(signups: ["free": 2, "pro": 1], inFlight: 1, durations: [.milliseconds(3), .milliseconds(40)])
        let b = Self.registry(signups: ["free": 5, "team": 4], inFlight: 2, durations: [.seconds(2), .milliseconds(1)])
        let both = Self.registry(signups: ["free": 7, "pro": 1, "team": 4], inFlight: 3,
                                 durations: [.milliseconds(3), .milliseconds(40), .seconds(2), .milliseconds(1)])
        let summed = PrometheusText.sum([.init(a.emitToString()), .init(b.emitToString())])
        let expected = try await Self.samples(both.emitToString())
        #expect(expected["signups_total{plan=free}"] == 7 && expected.count == 10, "the reference: \(expected)")
        #expect(Self.same(try await Self.samples(summed), expected), "\(summed)")

        let withoutA = PrometheusText.sum([.init(a.emitToString(), keepsGauges: false), .init(b.emitToString())])
        var expectedWithoutA = expected
        expectedWithoutA["porter_requests_in_flight{}"] = 2
        #expect(Self.same(try await Self.samples(withoutA), expectedWithoutA), "\(withoutA)")
    }

    @Test("outside a worker process, /metrics shows this process's registry as it is")
    func singleProcessIsTheRegistry() {
        #expect(MetricsBoard.inherited == nil && !MetricsPublisher.isNeeded)
        let registry = Self.registry(signups: ["free": 1], inFlight: 0, durations: [])
        #expect(PorterMetrics.exposition(of: registry) == registry.emitToString())
    }
}
