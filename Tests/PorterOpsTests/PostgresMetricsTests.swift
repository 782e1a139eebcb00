import Foundation
import Porter
import PorterState
import PorterTesting
import Testing
@testable import PorterOps

/// The PostgreSQL pool's swift-metrics series on `/metrics`, from a real server: open connections, how long work
/// waited for one, queue timeouts and cancellations.
@Suite struct PostgresMetricsTests {
    /// The value of the sample line `name` (no labels) in the registry's exposition; 0 when it is not there yet.
    static func sample(_ name: String) -> Double {
        let line = PorterMetrics.registry.emitToString().split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    @Test("a queue timeout, a server-side cancel, the wait for a connection and the open connection are counted")
    func poolSeries() async throws {
        #expect(PorterMetrics.setUp(.porter) != nil)
        let server = try await PostgresTestServer.sharedOrSkip()
        let name = try await server.makeDatabaseName()
        // Other tests in this process use pools too: every check is "at least what this test did".
        let timeoutsBefore = Self.sample(PostgresMetrics.queueTimeoutsLabel)
        let cancelsBefore = Self.sample(PostgresMetrics.cancelsLabel)
        let waitsBefore = Self.sample(PostgresMetrics.queueWaitLabel + "_count")

        let pool = PostgresService(connection: server.url(database: name) + "?sslmode=disable", maximumConnections: 1,
                                   queueTimeout: .milliseconds(100))
        let sleeping = Task { try await pool.query("SELECT pg_sleep(30)") }
        try await waitUntil("the sleep holds the pool's only connection") {
            try await server.sessionCount(name, where: "query = 'SELECT pg_sleep(30)' AND state = 'active'") == 1
        }
        await #expect(throws: PostgresPoolBusy.self) { try await pool.query("SELECT 1") }
        sleeping.cancel()
        await #expect { try await sleeping.value } throws: { ($0 as? PostgresError)?.sqlState == "57014" }
        #expect(try await pool.query("SELECT 1").first?.int(0) == 1)

        #expect(Self.sample(PostgresMetrics.queueTimeoutsLabel) >= timeoutsBefore + 1)
        #expect(Self.sample(PostgresMetrics.cancelsLabel) >= cancelsBefore + 1)
        #expect(Self.sample(PostgresMetrics.queueWaitLabel + "_count") >= waitsBefore + 2, "the sleep and the last SELECT")
        #expect(Self.sample(PostgresMetrics.connectionsLabel) >= 1, "this pool's connection is open")
        let text = PorterMetrics.registry.emitToString()
        #expect(text.contains("# TYPE \(PostgresMetrics.queueWaitLabel) histogram"))
        #expect(text.contains("# TYPE \(PostgresMetrics.connectionsLabel) gauge"))
        #expect(!text.contains("127.0.0.1"), "no connection setting leaks into the series")
    }
}
