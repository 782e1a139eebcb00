import Foundation
import PorterTesting
import Testing
import Porter
@testable import PorterOps

/// Each host's status and metrics say which host they come from, so scrapes of several hosts add up per host.
@Suite("Host name in status and metrics")
struct HostLabelTests {
    @Test("every Prometheus sample carries host; the text page and JSON show it with the refused peers")
    func labelled() throws {
        var snapshot = ServerStatusSnapshot(acceptedRequests: 7, idleThreads: 3, busyThreads: 1, handlerRequests: ["hello": 7])
        snapshot.host = "web\"2"
        snapshot.refusedPeers = 4
        let text = PrometheusExposition.render(snapshot)
        let samples = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(!samples.isEmpty)
        for line in samples { #expect(line.contains("host=\"web\\\"2\""), "\(line)") }
        #expect(text.contains("porter_refused_peers_total{host=\"web\\\"2\"} 4"))
        #expect(text.contains("porter_worker_threads{host=\"web\\\"2\",state=\"idle\"} 3"))
        let page = StatusText.render(snapshot)
        #expect(page.contains("host:"))
        #expect(page.contains("refused peers:"))
        let json = String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self)
        #expect(json.contains("\"host\""))
        #expect(json.contains("\"refused_peers\":4"))
    }

    @Test("the merged snapshot of a process names this host")
    func mergedNamesHost() async {
        let merged = await ServerStatusSources.snapshot(statistics: nil, extra: [], application: ApplicationState())
        #expect(merged.host == HostName.current)
        #expect(!HostName.current.isEmpty)
    }
}
