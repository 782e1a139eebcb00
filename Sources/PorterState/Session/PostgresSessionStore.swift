import Foundation
import Logging
import Porter
import PostgresNIO
import Synchronization

/// Sessions in PostgreSQL (postgres-nio), for several Porter processes or hosts behind one nginx upstream.
///
/// The exclusive lock is a pair of lock columns (owner + lease expiry, as ASP.NET's SQL Server provider does),
/// taken with one atomic `UPDATE … WHERE lock free … RETURNING`, so it holds across processes and hosts
/// without pinning a connection, and a crashed process's lock lapses after its lease.
public final class PostgresSessionStore: SessionStore {
    /// The connection pool, a `Service` the host runs.
    public let database: PostgresService
    let client: PostgresClient
    private let schema = PostgresSchema(lockKey: 7270001, statements: [
        """
        CREATE TABLE IF NOT EXISTS porter_sessions (
            id TEXT PRIMARY KEY,
            data TEXT NOT NULL,
            timeout_seconds BIGINT NOT NULL,
            expires_ms BIGINT NOT NULL,
            lock_owner TEXT,
            lock_expires_ms BIGINT,
            created_ms BIGINT NOT NULL
        )
        """,
        """
        CREATE INDEX IF NOT EXISTS porter_sessions_expires ON porter_sessions (expires_ms)
        """
    ])
    private let locks = AsyncKeyedLock()
    private let clock: WallClock
    private let logger: Logger

    /// A store on `database` (shared with other stores if you like); run `database` with the host
    /// (`context.run(store.database)` / `app.run(store.database)`), or queries wait. The table is created on first use.
    public init(database: PostgresService, clock: WallClock = .system,
                logger: Logger = Logger(label: "porter.sessions.postgres")) {
        self.database = database
        self.client = database.client
        self.clock = clock
        self.logger = logger
    }

    /// A store with its own pool for `configuration`; run `store.database` with the host.
    public convenience init(configuration: PostgresClient.Configuration, clock: WallClock = .system,
                            logger: Logger = Logger(label: "porter.sessions.postgres")) {
        self.init(database: PostgresService(configuration: configuration, logger: logger), clock: clock, logger: logger)
    }

    /// A store with its own pool for a `postgres://` URL (see `PostgresService.configuration(url:)`).
    public convenience init(url: String, clock: WallClock = .system,
                            logger: Logger = Logger(label: "porter.sessions.postgres")) throws {
        self.init(configuration: try PostgresService.configuration(url: url), clock: clock, logger: logger)
    }

    public var kind: String { "postgres" }


    /// Creates the table once (see `PostgresSchema`).
    func ready() async throws { try await schema.ready(client, logger: logger) }

    public func read(id: String) async throws -> SessionRecord? {
        try await ready()
        let now = clock.nowMillis()
        let rows = try await client.query("""
            SELECT data, timeout_seconds, expires_ms FROM porter_sessions WHERE id = \(id) AND expires_ms > \(now)
            """, logger: logger)
        for try await (data, timeout, expires) in rows.decode((String, Int64, Int64).self) {
            return SessionRecord(data: data, timeoutSeconds: Int(timeout), expiresAtMillis: expires)
        }
        return nil
    }

    public func acquire(id: String, owner: String, wait: Duration, lease: Duration) async throws -> SessionRecord? {
        try await ready()
        let client = self.client, clock = self.clock, logger = self.logger
        return try await DatabaseLockPolling.acquire(locks: locks, id: id, owner: owner, wait: wait) {
            let now = clock.nowMillis()
            let leaseEnd = now + lease.milliseconds
            let rows = try await client.query("""
                UPDATE porter_sessions SET lock_owner = \(owner), lock_expires_ms = \(leaseEnd)
                WHERE id = \(id) AND expires_ms > \(now) AND (lock_owner IS NULL OR lock_expires_ms <= \(now))
                RETURNING data, timeout_seconds, expires_ms
                """, logger: logger)
            for try await (data, timeout, expires) in rows.decode((String, Int64, Int64).self) {
                return .acquired(SessionRecord(data: data, timeoutSeconds: Int(timeout), expiresAtMillis: expires))
            }
            let exists = try await client.query(
                "SELECT 1 FROM porter_sessions WHERE id = \(id) AND expires_ms > \(now)", logger: logger)
            for try await _ in exists { return .busy }
            return .missing
        }
    }

    public func insert(id: String, data: String, timeoutSeconds: Int, lockOwner: String?, lease: Duration) async throws {
        try await ready()
        let now = clock.nowMillis()
        let expires = now + Int64(timeoutSeconds) * 1000
        let lockExpires: Int64? = lockOwner == nil ? nil : now + lease.milliseconds
        try await client.query("""
            INSERT INTO porter_sessions (id, data, timeout_seconds, expires_ms, lock_owner, lock_expires_ms, created_ms)
            VALUES (\(id), \(data), \(Int64(timeoutSeconds)), \(expires), \(lockOwner), \(lockExpires), \(now))
            ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, timeout_seconds = EXCLUDED.timeout_seconds,
                expires_ms = EXCLUDED.expires_ms, lock_owner = EXCLUDED.lock_owner, lock_expires_ms = EXCLUDED.lock_expires_ms
            """, logger: logger)
    }

    public func save(id: String, owner: String, data: String, timeoutSeconds: Int) async throws -> Bool {
        defer { locks.unlock(id, owner: owner) }
        try await ready()
        let expires = clock.nowMillis() + Int64(timeoutSeconds) * 1000
        let rows = try await client.query("""
            UPDATE porter_sessions SET data = \(data), timeout_seconds = \(Int64(timeoutSeconds)), expires_ms = \(expires),
                lock_owner = NULL, lock_expires_ms = NULL
            WHERE id = \(id) AND lock_owner = \(owner) RETURNING id
            """, logger: logger)
        var saved = false
        for try await _ in rows { saved = true }
        return saved
    }

    public func release(id: String, owner: String, timeoutSeconds: Int) async throws {
        defer { locks.unlock(id, owner: owner) }
        try await ready()
        let expires = clock.nowMillis() + Int64(timeoutSeconds) * 1000
        try await client.query("""
            UPDATE porter_sessions SET timeout_seconds = \(Int64(timeoutSeconds)), expires_ms = \(expires),
                lock_owner = NULL, lock_expires_ms = NULL
            WHERE id = \(id) AND lock_owner = \(owner)
            """, logger: logger)
    }

    public func touch(id: String, timeoutSeconds: Int) async throws {
        try await ready()
        let now = clock.nowMillis()
        let expires = now + Int64(timeoutSeconds) * 1000
        try await client.query("UPDATE porter_sessions SET expires_ms = \(expires) WHERE id = \(id) AND expires_ms > \(now)",
                               logger: logger)
    }

    public func delete(id: String, owner: String?) async throws {
        defer { if let owner { locks.unlock(id, owner: owner) } }
        try await ready()
        try await client.query("DELETE FROM porter_sessions WHERE id = \(id)", logger: logger)
    }

    public func purgeExpired() async throws -> Int {
        try await ready()
        let now = clock.nowMillis()
        let rows = try await client.query("""
            DELETE FROM porter_sessions WHERE expires_ms <= \(now) AND (lock_owner IS NULL OR lock_expires_ms <= \(now))
            RETURNING id
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }

    /// Nothing to do: the pool (`database`) is stopped by the `ServiceGroup` that runs it.
    public func close() async {}
}
