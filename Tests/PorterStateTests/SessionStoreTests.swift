import Foundation
import Porter
import PorterTesting
import Testing
@testable import PorterState

/// The contract every `SessionStore` must meet; run against memory, SQLite and PostgreSQL.
func checkSessionStoreContract(_ store: any SessionStore, clock: ManualClock) async throws {
    let lease = Duration.seconds(60)
    // Missing sessions.
    #expect(try await store.read(id: "missing") == nil)
    #expect(try await store.acquire(id: "missing", owner: "o", wait: .milliseconds(100), lease: lease) == nil)

    // Insert and read back.
    try await store.insert(id: "s1", data: #"{"a":"1"}"#, timeoutSeconds: 60, lockOwner: nil, lease: lease)
    let read = try #require(try await store.read(id: "s1"))
    #expect(read.data == #"{"a":"1"}"#)
    #expect(read.timeoutSeconds == 60)

    // Exclusive lock: a second owner times out while the first holds it; a wrong owner cannot save.
    let held = try await store.acquire(id: "s1", owner: "A", wait: hangGuard, lease: lease)
    #expect(held?.data == #"{"a":"1"}"#)
    await #expect(throws: SessionLockTimeout.self) {
        _ = try await store.acquire(id: "s1", owner: "B", wait: .milliseconds(80), lease: lease)
    }
    #expect(try await store.save(id: "s1", owner: "B", data: "{}", timeoutSeconds: 60) == false)
    // Read-only readers never wait for the lock.
    #expect(try await store.read(id: "s1")?.data == #"{"a":"1"}"#)
    #expect(try await store.save(id: "s1", owner: "A", data: #"{"a":"2"}"#, timeoutSeconds: 60) == true)
    #expect(try await store.read(id: "s1")?.data == #"{"a":"2"}"#)

    // A waiter gets the lock when the holder saves, and sees the saved values.
    _ = try await store.acquire(id: "s1", owner: "A", wait: hangGuard, lease: lease)
    async let waiter = store.acquire(id: "s1", owner: "B", wait: hangGuard, lease: lease)
    try await Task.sleep(for: .milliseconds(50))
    try await store.save(id: "s1", owner: "A", data: #"{"a":"3"}"#, timeoutSeconds: 60)
    #expect(try await waiter?.data == #"{"a":"3"}"#)
    try await store.release(id: "s1", owner: "B", timeoutSeconds: 60)
    #expect(try await store.acquire(id: "s1", owner: "C", wait: hangGuard, lease: lease) != nil)
    try await store.release(id: "s1", owner: "C", timeoutSeconds: 60)

    // Sliding expiry: touch and release extend it; expired sessions are not returned and are purged.
    clock.advance(by: .seconds(50))
    try await store.touch(id: "s1", timeoutSeconds: 60)
    clock.advance(by: .seconds(50))
    #expect(try await store.read(id: "s1") != nil, "touch must extend the expiry")
    clock.advance(by: .seconds(61))
    #expect(try await store.read(id: "s1") == nil, "expired sessions are not returned")
    #expect(try await store.acquire(id: "s1", owner: "D", wait: .milliseconds(100), lease: lease) == nil)
    try await store.touch(id: "s1", timeoutSeconds: 60)
    #expect(try await store.read(id: "s1") == nil, "touch must not resurrect an expired session")
    try await store.insert(id: "s2", data: "{}", timeoutSeconds: 600, lockOwner: nil, lease: lease)
    #expect(try await store.purgeExpired() == 1)
    #expect(try await store.read(id: "s2") != nil)

    // Delete releases the holder's lock; a waiter then finds no session.
    _ = try await store.acquire(id: "s2", owner: "A", wait: hangGuard, lease: lease)
    async let deletedWaiter = store.acquire(id: "s2", owner: "B", wait: hangGuard, lease: lease)
    try await Task.sleep(for: .milliseconds(50))
    try await store.delete(id: "s2", owner: "A")
    #expect(try await deletedWaiter == nil)
    #expect(try await store.read(id: "s2") == nil)

    // A session created locked (session-id regeneration) is released by its owner's save.
    try await store.insert(id: "s3", data: "{}", timeoutSeconds: 60, lockOwner: "L", lease: lease)
    #expect(try await store.save(id: "s3", owner: "L", data: #"{"k":"v"}"#, timeoutSeconds: 60))
    #expect(try await store.acquire(id: "s3", owner: "M", wait: hangGuard, lease: lease)?.data == #"{"k":"v"}"#)
    try await store.release(id: "s3", owner: "M", timeoutSeconds: 60)

    // Values with quotes, newlines and non-ASCII survive.
    let values = ["q": "a \"quoted\"\nline", "u": "Grüße ✓", "b": "\\"]
    try await store.insert(id: "s4", data: SessionCodec.encode(values), timeoutSeconds: 60, lockOwner: nil, lease: lease)
    #expect(SessionCodec.decode(try #require(try await store.read(id: "s4")).data) == values)
}

/// Two store instances over one database (two Porter processes) share sessions, the lock, and lease take-over.
func checkSharedStores(_ first: any SessionStore, _ second: any SessionStore, clock: ManualClock) async throws {
    let lease = Duration.seconds(5)
    try await first.insert(id: "shared", data: #"{"n":"1"}"#, timeoutSeconds: 600, lockOwner: nil, lease: lease)
    #expect(try await second.read(id: "shared")?.data == #"{"n":"1"}"#)

    _ = try #require(try await first.acquire(id: "shared", owner: "P1", wait: hangGuard, lease: lease))
    await #expect(throws: SessionLockTimeout.self) {
        _ = try await second.acquire(id: "shared", owner: "P2", wait: .milliseconds(150), lease: lease)
    }
    async let other = second.acquire(id: "shared", owner: "P2", wait: hangGuard, lease: lease)
    try await Task.sleep(for: .milliseconds(60))
    try await first.save(id: "shared", owner: "P1", data: #"{"n":"2"}"#, timeoutSeconds: 600)
    #expect(try await other?.data == #"{"n":"2"}"#, "the other process gets the lock once it is released")
    try await second.release(id: "shared", owner: "P2", timeoutSeconds: 600)

    // A process that dies holding the lock: after the lease another process takes over, and the dead
    // owner's late save is refused.
    _ = try #require(try await first.acquire(id: "shared", owner: "dead", wait: hangGuard, lease: lease))
    clock.advance(by: .seconds(6))
    let taken = try await second.acquire(id: "shared", owner: "P3", wait: hangGuard, lease: lease)
    #expect(taken != nil, "a lock past its lease is taken over")
    #expect(try await first.save(id: "shared", owner: "dead", data: #"{"n":"x"}"#, timeoutSeconds: 600) == false)
    try await second.save(id: "shared", owner: "P3", data: #"{"n":"3"}"#, timeoutSeconds: 600)
    #expect(try await first.read(id: "shared")?.data == #"{"n":"3"}"#)
}

@Suite("Session stores")
struct SessionStoreTests {
    @Test func memoryStoreMeetsTheContract() async throws {
        let clock = ManualClock()
        try await checkSessionStoreContract(MemorySessionStore(clock: clock.wallClock), clock: clock)
    }

    @Test func sqliteStoreMeetsTheContract() async throws {
        let dir = try temporaryDirectory()
        let clock = ManualClock()
        let store = try SQLiteSessionStore(path: dir.appendingPathComponent("s.sqlite").path, clock: clock.wallClock)
        try await checkSessionStoreContract(store, clock: clock)
        await store.close()
    }

    @Test func postgresStoreMeetsTheContract() async throws {
        let server = try await postgresServer()
        let clock = ManualClock()
        let store = PostgresSessionStore(connection: try await server.makeDatabase(), clock: clock.wallClock)
        try await withServices([store.database]) { try await checkSessionStoreContract(store, clock: clock) }
        await store.close()
    }

    @Test func sqliteFileUsesWALAndSurvivesReopen() async throws {
        let path = try temporaryDirectory().appendingPathComponent("s.sqlite").path
        let store = try SQLiteSessionStore(path: path)
        try await store.insert(id: "keep", data: #"{"v":"1"}"#, timeoutSeconds: 600, lockOwner: nil, lease: .seconds(60))
        let mode = try await store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        await store.close()
        let reopened = try SQLiteSessionStore(path: path)
        #expect(try await reopened.read(id: "keep")?.data == #"{"v":"1"}"#)
        await reopened.close()
    }

    @Test func twoSQLiteStoresOnOneFileShareSessionsAndLocks() async throws {
        let path = try temporaryDirectory().appendingPathComponent("s.sqlite").path
        let clock = ManualClock()
        let a = try SQLiteSessionStore(path: path, clock: clock.wallClock)
        let b = try SQLiteSessionStore(path: path, clock: clock.wallClock)
        try await checkSharedStores(a, b, clock: clock)
        await a.close()
        await b.close()
    }

    @Test func twoPostgresStoresOnOneDatabaseShareSessionsAndLocks() async throws {
        let server = try await postgresServer()
        let clock = ManualClock()
        let configuration = try await server.makeDatabase()
        let a = PostgresSessionStore(connection: configuration, clock: clock.wallClock)
        let b = PostgresSessionStore(connection: configuration, clock: clock.wallClock)
        try await withServices([a.database, b.database]) { try await checkSharedStores(a, b, clock: clock) }
        await a.close()
        await b.close()
    }

    @Test func postgresURLParsing() throws {
        _ = try PostgresService.configuration(url: "postgres://porter:secret@db.internal:5433/sessions?sslmode=disable")
        _ = try PostgresService.configuration(url: "postgres://porter@/sessions?host=/run/postgresql")
        #expect(throws: ConfigurationError.self) { try PostgresService.configuration(url: "mysql://x/y") }
        #expect(throws: ConfigurationError.self) { try PostgresService.configuration(url: "postgres://x/y?sslmode=maybe") }
    }

    @Test func factoryBuildsTheConfiguredStore() throws {
        let dir = try temporaryDirectory()
        #expect(try SessionStoreFactory.make(options: Options(["store": .string("memory")])).kind == "memory")
        let sqlite = try SessionStoreFactory.make(options: Options(["path": .string(dir.appendingPathComponent("x.sqlite").path)]))
        #expect(sqlite.kind == "sqlite")
        #expect(try SessionStoreFactory.make(options: Options(["store": .string("postgres"),
                                                               "postgres_url": .string("postgres://u@localhost/db")])).kind == "postgres")
        #expect(throws: ConfigurationError.self) { try SessionStoreFactory.make(options: Options(["store": .string("redis")])) }
    }

    @Test func codecRoundTripsAndRejectsGarbage() {
        let values = ["a": "1", "quote\"key": "line\nbreak\u{1}", "emoji": "🙂"]
        #expect(SessionCodec.decode(SessionCodec.encode(values)) == values)
        #expect(SessionCodec.decode("not json") == nil)
        #expect(SessionCodec.decode(#"{"a":1}"#) == nil)
        #expect(SessionCodec.encode([:]) == "{}")
    }

    @Test func keyedLockHandsOverInOrderAndTimesOut() async throws {
        let lock = AsyncKeyedLock()
        try await lock.lock("k", owner: "a", timeout: hangGuard)
        await #expect(throws: SessionLockTimeout.self) { try await lock.lock("k", owner: "b", timeout: .milliseconds(50)) }
        async let c: Void = lock.lock("k", owner: "c", timeout: hangGuard)
        try await Task.sleep(for: .milliseconds(20))
        lock.unlock("k", owner: "not-the-owner")
        #expect(lock.isLocked("k"))
        lock.unlock("k", owner: "a")
        try await c
        lock.unlock("k", owner: "c")
        #expect(!lock.isLocked("k"))
    }
}
