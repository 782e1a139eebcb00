import Dispatch
import Foundation
import Porter
import PorterTesting
import ServiceLifecycle
import Testing
@testable import PorterState

/// The libpq pool against a real PostgreSQL server: parameters are bound (never spliced), errors carry SQLSTATE,
/// a blocked query holds one pool thread and no Swift concurrency thread, a connection the server closed is
/// replaced, and stopping the service closes the connections.
@Suite("PostgreSQL pool (libpq)")
struct PostgresServiceTests {
    /// The connections the server has open from `porter` to `database`.
    static func serverSideConnections(_ server: PostgresTestServer, _ database: String) async throws -> Int {
        let count = try await ConcurrentClients.offPool {
            try server.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'porter' AND datname = '\(database)'",
                            database: database)
        }
        return Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test("values are bound as parameters: quotes, $1, unicode, 64 KiB, empty vs NULL, edge spaces and Int64 extremes round-trip")
    func parametersRoundTrip() async throws {
        let server = try await postgresServer()
        let pool = PostgresService(connection: try await server.makeDatabase())
        try await pool.query("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT, n BIGINT)")
        let values: [(String, String?, Int64?)] = [
            ("quote", "x'; DROP TABLE t; --", 0), ("dollar", "$1 $2 \\ \"", -1), ("unicode", "Grüße, 世界 🎉", Int64.max),
            ("big", String(repeating: "a", count: 64 * 1024), Int64.min), ("empty", "", nil), ("null", nil, 7),
            ("spaces", "  padded\t\n", 1),
        ]
        for (k, v, n) in values { try await pool.query("INSERT INTO t (k, v, n) VALUES (\(k), \(v), \(n))") }
        for (k, v, n) in values {
            let row = try #require(try await pool.query("SELECT v, n FROM t WHERE k = \(k)").first)
            #expect(row.optionalString(0) == v, "\(k)")
            #expect(try row.optionalInt(1) == n, "\(k)")
        }
        #expect(try await pool.query("SELECT count(*) FROM t").first?.int(0) == Int64(values.count), "the table is still there")
        await #expect(throws: PostgresError.self) { try await pool.query("INSERT INTO t (k) VALUES (\("nul\u{0}cut"))") }
        #expect(try await pool.query("SELECT count(*) FROM t").first?.int(0) == Int64(values.count), "a NUL is refused, not cut")
    }

    @Test("a failed statement carries its SQLSTATE and leaves the connection usable; a failed transaction rolls back")
    func errorsAndRollback() async throws {
        let server = try await postgresServer()
        let pool = PostgresService(connection: try await server.makeDatabase(), maximumConnections: 1)
        await #expect { try await pool.query("SELECT * FROM no_such_table") } throws: { ($0 as? PostgresError)?.sqlState == "42P01" }
        try await pool.query("CREATE TABLE u (k TEXT PRIMARY KEY)")
        await #expect { () async throws in
            try await pool.transaction { c in
                try c.query("INSERT INTO u VALUES ('kept-out')")
                try c.query("INSERT INTO u VALUES ('kept-out')")
            }
        } throws: { ($0 as? PostgresError)?.sqlState == "23505" }
        #expect(try await pool.query("SELECT count(*) FROM u").first?.int(0) == 0, "the first insert was rolled back")
        #expect(pool.openConnections == 1)
    }

    @Test("queries blocked in the database hold pool threads, not Swift concurrency threads; they finish when the lock goes")
    func blockedQueriesPinNoConcurrencyThread() async throws {
        let server = try await postgresServer()
        let name = try await server.makeDatabaseName()
        let url = server.url(database: name) + "?sslmode=disable"
        let holder = PostgresService(connection: url, maximumConnections: 1)
        // More blocked queries than the cooperative pool has threads: if each pinned one, nothing below could run.
        let waiting = 2 * ProcessInfo.processInfo.activeProcessorCount + 1
        let pool = PostgresService(connection: url, maximumConnections: waiting)
        let release = DispatchSemaphore(value: 0)
        let held = DispatchSemaphore(value: 0)
        async let holding: Void = holder.transaction { c in
            try c.query("SELECT pg_advisory_xact_lock(4242)")
            held.signal()
            _ = release.wait(timeout: .now() + 120)   // hang guard
        }
        try await ConcurrentClients.offPool { _ = held.wait(timeout: .now() + 60) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<waiting { group.addTask { try await pool.query("SELECT pg_advisory_xact_lock_shared(4242)") } }
            try await waitUntil("\(waiting) queries wait on the lock in the server") {
                let n = try await ConcurrentClients.offPool {
                    try server.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = '\(name)'",
                                    database: name)
                }
                return Int(n.trimmingCharacters(in: .whitespacesAndNewlines)) == waiting
            }
            #expect(pool.openConnections == waiting, "one connection (and thread) per waiting query")
            // The concurrency pool still runs other work meanwhile.
            let sum = await withTaskGroup(of: Int.self) { tasks in
                for i in 1...100 { tasks.addTask { await Task.yield(); return i } }
                return await tasks.reduce(0, +)
            }
            #expect(sum == 5050)
            release.signal()
            try await group.waitForAll()
        }
        try await holding
    }

    @Test("a connection the server closed is replaced on next use; stopping the service closes the connections")
    func reconnectsAndCloses() async throws {
        let server = try await postgresServer()
        let name = try await server.makeDatabaseName()
        let pool = PostgresService(connection: server.url(database: name) + "?sslmode=disable", maximumConnections: 2)
        try await withServices([pool]) {
            #expect(try await pool.query("SELECT 1").first?.int(0) == 1)
            let killed = try await ConcurrentClients.offPool {
                try server.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'porter' AND datname = '\(name)'",
                                database: name)
            }
            #expect(killed.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            try await waitUntil("the server closed the connection") { try await Self.serverSideConnections(server, name) == 0 }
            #expect(try await pool.query("SELECT 2").first?.int(0) == 2, "the dead connection was replaced, the query not lost")
            #expect(pool.openConnections == 1)
        }
        try await waitUntil("stopping closed the pool's connections") { pool.openConnections == 0 }
        try await waitUntil("the server sees none") { try await Self.serverSideConnections(server, name) == 0 }
        #expect(try await pool.query("SELECT 3").first?.int(0) == 3, "a query after the stop opens a connection again")
    }

    @Test("a server that is not there is a PostgresError, not a hang or a crash")
    func unreachableServer() async throws {
        let pool = PostgresService(connection: "postgres://porter@127.0.0.1:1/porter?sslmode=disable")
        await #expect { try await pool.query("SELECT 1") } throws: { "\($0)".contains("cannot connect") }
        #expect(pool.openConnections == 0)
    }
}
