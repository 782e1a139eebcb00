import FastCGIWire
import Porter
import PorterFastCGI
import PorterTesting
import Testing

@Suite("Graceful stop and kept connections", .serialized)
struct DrainTests {
    @Test("a drain closes idle kept connections and the server stops")
    func idleKeptConnectionsClose() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let clients = (0..<3).map { _ in t.client() }
        for client in clients {
            var request = FastCGIRequest.get("/hello")
            request.keepConnection = true
            let kept = request
            #expect(try await ConcurrentClients.offPool { try client.send(kept) }.status == 200)
        }
        #expect(clients.allSatisfy { $0.isConnected })
        t.server.shutdown()
        for client in clients {
            #expect(try await ConcurrentClients.offPool { client.waitForClose(timeout: .seconds(10)) }, "parked connection closed")
        }
        await t.stop()
        #expect(t.server.statistics.openConnections.load(ordering: .relaxed) == 0)
        #expect(t.server.statistics.parkedConnections.load(ordering: .relaxed) == 0)
    }

    @Test("a kept connection whose request is running closes after its response instead of parking")
    func busyKeptConnectionClosesAfterResponse() async throws {
        let t = try FastCGITestServer(registry: try transportRegistry())
        let client = t.client()
        var request = FastCGIRequest.get("/slow?ms=300")
        request.keepConnection = true
        let response = Task { try await ConcurrentClients.offPool { [request] in try client.send(request) } }
        for _ in 0..<500 where t.server.statistics.activeRequests.load(ordering: .relaxed) == 0 {
            try await Task.sleep(for: .milliseconds(5))
        }
        t.server.shutdown()
        #expect(try await response.value.status == 200)
        #expect(try await ConcurrentClients.offPool { client.waitForClose(timeout: .seconds(10)) }, "closed, not parked")
        await t.stop()
    }
}
