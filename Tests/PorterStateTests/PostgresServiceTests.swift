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
        try await server.sessionCount(database, where: "application_name = 'porter'")
    }

    /// How many sessions of `database` wait on a lock in the server.
    static func lockWaiters(_ server: PostgresTestServer, _ database: String) async throws -> Int {
        try await server.sessionCount(database, where: "wait_event_type = 'Lock'")
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
        // More blocked queries than the cooperative pool has threads: if each pinned one, nothing below could run.
        let waiting = 2 * ProcessInfo.processInfo.activeProcessorCount + 1
        let pool = PostgresService(connection: url, maximumConnections: waiting)
        let release = DispatchSemaphore(value: 0)
        let holding = try await Self.holdAdvisoryLock(4242, url: url, release: release)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<waiting { group.addTask { try await pool.query("SELECT pg_advisory_xact_lock_shared(4242)") } }
            try await waitUntil("\(waiting) queries wait on the lock in the server") { try await Self.lockWaiters(server, name) == waiting }
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
        try await holding.value
    }

    /// Holds PostgreSQL advisory lock `key` in a transaction on its own connection until `release` is signalled.
    static func holdAdvisoryLock(_ key: Int, url: String, release: DispatchSemaphore) async throws -> Task<Void, any Error> {
        let holder = PostgresService(connection: url, maximumConnections: 1)
        let held = DispatchSemaphore(value: 0)
        let task = Task {
            try await holder.transaction { c in
                try c.query("SELECT pg_advisory_xact_lock(\(key))")
                held.signal()
                _ = release.wait(timeout: .now() + 120)   // hang guard
            }
        }
        try await ConcurrentClients.offPool { _ = held.wait(timeout: .now() + 60) }
        return task
    }

    @Test("with every connection busy, work waits at most the queue timeout and fails with PostgresPoolBusy (503); nothing of it runs")
    func queueTimeout() async throws {
        let server = try await postgresServer()
        let name = try await server.makeDatabaseName()
        let url = server.url(database: name) + "?sslmode=disable"
        let pool = PostgresService(connection: url, maximumConnections: 2, queueTimeout: .milliseconds(200))
        try await pool.query("CREATE TABLE marks (k TEXT)")
        let release = DispatchSemaphore(value: 0)
        let holding = try await Self.holdAdvisoryLock(4343, url: url, release: release)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 { group.addTask { try await pool.query("SELECT pg_advisory_xact_lock_shared(4343)") } }
            try await waitUntil("both connections wait on the lock") { try await Self.lockWaiters(server, name) == 2 }
            // Both connections are busy: these queue, time out, and never reach the database.
            for i in 0..<5 {
                await #expect { try await pool.query("INSERT INTO marks VALUES (\("late \(i)"))") } throws: { error in
                    guard let busy = error as? PostgresPoolBusy else { return false }
                    return busy.status == .serviceUnavailable && busy.headers["Retry-After"] == "1" && busy.maximumConnections == 2
                }
            }
            #expect(pool.queueTimeouts == 5)
            release.signal()
            try await group.waitForAll()
        }
        try await holding.value
        #expect(try await pool.query("SELECT count(*) FROM marks").first?.int(0) == 0, "timed-out work never ran")
        #expect(pool.queueTimeouts == 5, "work that found a connection free did not time out")
    }

    @Test("work whose task is cancelled while it waits for a connection leaves the queue and never runs; the pool goes on")
    func cancelledWhileQueued() async throws {
        let server = try await postgresServer()
        let name = try await server.makeDatabaseName()
        let url = server.url(database: name) + "?sslmode=disable"
        // A queue timeout far beyond the test: only the cancellation can end the wait.
        let pool = PostgresService(connection: url, maximumConnections: 1, queueTimeout: .seconds(300))
        try await pool.query("CREATE TABLE marks (k TEXT)")
        let release = DispatchSemaphore(value: 0)
        let holding = try await Self.holdAdvisoryLock(4444, url: url, release: release)
        async let blocked = pool.query("SELECT pg_advisory_xact_lock_shared(4444)")
        try await waitUntil("the pool's one connection waits on the lock") { try await Self.lockWaiters(server, name) == 1 }
        #expect(pool.queuedWork == 0)
        let queued = Task { try await pool.query("INSERT INTO marks VALUES ('cancelled')") }
        try await waitUntil("the insert waits in the pool's queue") { pool.queuedWork == 1 }
        queued.cancel()
        // Returns while the only connection is still blocked: it left the queue instead of waiting its turn.
        await #expect(throws: CancellationError.self) { try await queued.value }
        #expect(pool.queuedWork == 0, "the cancelled insert left the queue")
        #expect(try await Self.lockWaiters(server, name) == 1, "the connection was still busy when the cancellation returned")
        release.signal()
        _ = try await blocked
        try await holding.value
        #expect(try await pool.query("SELECT count(*) FROM marks").first?.int(0) == 0, "the cancelled insert never ran")
        #expect(pool.queueTimeouts == 0)
    }

    @Test("a query whose task is cancelled while it runs is cancelled in the server (SQLSTATE 57014); the connection serves on")
    func cancelledWhileRunning() async throws {
        let server = try await postgresServer()
        let name = try await server.makeDatabaseName()
        let pool = PostgresService(connection: server.url(database: name) + "?sslmode=disable", maximumConnections: 1)
        try await pool.query("CREATE TABLE marks (k TEXT)")
        // Without the cancel the sleep ends by itself after 30 s and the transaction commits: the test then fails.
        let sleeping = Task {
            try await pool.transaction { c in
                try c.query("INSERT INTO marks VALUES ('uncommitted')")
                try c.query("SELECT pg_sleep(30)")
            }
        }
        try await waitUntil("the sleep runs in the server") {
            try await server.sessionCount(name, where: "query = 'SELECT pg_sleep(30)' AND state = 'active'") == 1
        }
        sleeping.cancel()
        await #expect { try await sleeping.value } throws: { ($0 as? PostgresError)?.sqlState == "57014" }
        #expect(try await pool.query("SELECT count(*) FROM marks").first?.int(0) == 0, "the transaction rolled back")
        #expect(pool.openConnections == 1, "the same connection serves on")
        #expect(try await server.sessionCount(name, where: "query = 'SELECT pg_sleep(30)' AND state = 'active'") == 0)
    }

    @Test("a request whose session store finds every connection busy gets 503 with Retry-After, not an endless wait")
    func busyPoolAnswers503() async throws {
        let server = try await postgresServer()
        let name = try await server.makeDatabaseName()
        let url = server.url(database: name) + "?sslmode=disable"
        let database = PostgresService(connection: url, maximumConnections: 1, queueTimeout: .milliseconds(200))
        let pipeline = try sessionPipeline(PostgresSessionStore(database: database))
        let sid = try await startSession(pipeline)
        let release = DispatchSemaphore(value: 0)
        let holding = try await Self.holdAdvisoryLock(4545, url: url, release: release)
        async let blocked = database.query("SELECT pg_advisory_xact_lock_shared(4545)")
        try await waitUntil("the pool's one connection waits on the lock") { try await Self.lockWaiters(server, name) == 1 }
        let busy = await request(pipeline, "/peek", sid: sid)
        #expect(busy.response.status == .serviceUnavailable)
        #expect(busy.response.headers["Retry-After"] == "1")
        #expect(!bodyText(busy).contains("PostgreSQL"), "no internals in the public message")
        release.signal()
        _ = try await blocked
        try await holding.value
        #expect(bodyText(await request(pipeline, "/peek", sid: sid)) == "0", "served again once a connection is free")
    }

    @Test("a pool's settings come from postgres_max_connections and postgres_queue_timeout_ms; bad values are configuration errors")
    func poolSettings() throws {
        let base: [String: ConfigValue] = ["postgres_url": .string("postgres://porter@127.0.0.1/porter")]
        let standard = try PostgresService.configuration(options: Options(base))
        #expect(standard.maximumConnections == 8 && standard.queueTimeout == PostgresService.defaultQueueTimeout)
        var tuned = base
        tuned["postgres_queue_timeout_ms"] = .int(250)
        let setting = try PostgresService.configuration(options: Options(tuned))
        #expect(setting.queueTimeout == .milliseconds(250))
        #expect(setting.key != standard.key, "pools with different queue timeouts are not shared")
        #expect(try PostgresPools().pool(options: Options(tuned)).queueTimeout == .milliseconds(250))
        for bad in [0, -1, 300_001] {
            var options = base
            options["postgres_queue_timeout_ms"] = .int(bad)
            #expect(throws: ConfigurationError.self) { try PostgresService.configuration(options: Options(options)) }
        }
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
