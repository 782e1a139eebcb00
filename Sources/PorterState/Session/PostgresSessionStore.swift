import Foundation
import Logging
import Porter
import Synchronization

/// Sessions in PostgreSQL (libpq, through `PostgresService`), for several Porter processes or hosts behind one nginx upstream.
///
/// The exclusive lock is a pair of lock columns (owner + lease expiry, as ASP.NET's SQL Server provider does),
/// taken with one atomic `UPDATE … WHERE lock free … RETURNING`, so it holds across processes and hosts
/// without pinning a connection, and a crashed process's lock lapses after its lease.
public final class PostgresSessionStore: SessionStore {
    /// The connection pool, a `Service` the host runs.
    public let database: PostgresService
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

    /// A store on `database` (shared with other stores if you like); run `database` with the host
    /// (`context.run(store.database)` / `app.run(store.database)`), which closes its connections when the server stops.
    /// The table is created on first use.
    public init(database: PostgresService, clock: WallClock = .system) {
        self.database = database
        self.clock = clock
    }

    /// A store with its own pool for a libpq connection string or URI; run `store.database` with the host.
    public convenience init(connection: String, clock: WallClock = .system,
                            logger: Logger = Logger(label: "porter.sessions.postgres")) {
        self.init(database: PostgresService(connection: connection, logger: logger), clock: clock)
    }

    /// A store with its own pool for a `postgres://` URL (see `PostgresService.configuration(url:)`).
    public convenience init(url: String, clock: WallClock = .system,
                            logger: Logger = Logger(label: "porter.sessions.postgres")) throws {
        self.init(connection: try PostgresService.configuration(url: url), clock: clock, logger: logger)
    }

    public var kind: String { "postgres" }


    /// Creates the table once (see `PostgresSchema`).
    func ready() async throws { try await schema.ready(database) }

    public func read(id: String) async throws -> SessionRecord? {
        try await ready()
        let now = clock.nowMillis()
        let rows = try await database.query("""
            SELECT data, timeout_seconds, expires_ms FROM porter_sessions WHERE id = \(id) AND expires_ms > \(now)
            """)
        return try rows.first.map(Self.record)
    }

    public func acquire(id: String, owner: String, wait: Duration, lease: Duration) async throws -> SessionRecord? {
        try await ready()
        let database = self.database, clock = self.clock
        return try await DatabaseLockPolling.acquire(locks: locks, id: id, owner: owner, wait: wait) {
            let now = clock.nowMillis()
            let leaseEnd = now + lease.milliseconds
            let rows = try await database.query("""
                UPDATE porter_sessions SET lock_owner = \(owner), lock_expires_ms = \(leaseEnd)
                WHERE id = \(id) AND expires_ms > \(now) AND (lock_owner IS NULL OR lock_expires_ms <= \(now))
                RETURNING data, timeout_seconds, expires_ms
                """)
            if let row = rows.first { return .acquired(try Self.record(row)) }
            let exists = try await database.query("SELECT 1 FROM porter_sessions WHERE id = \(id) AND expires_ms > \(now)")
            return exists.isEmpty ? .missing : .busy
        }
    }

    public func insert(id: String, data: String, timeoutSeconds: Int, lockOwner: String?, lease: Duration) async throws {
        try await ready()
        let now = clock.nowMillis()
        let expires = now + Int64(timeoutSeconds) * 1000
        let lockExpires: Int64? = lockOwner == nil ? nil : now + lease.milliseconds
        try await database.query("""
            INSERT INTO porter_sessions (id, data, timeout_seconds, expires_ms, lock_owner, lock_expires_ms, created_ms)
            VALUES (\(id), \(data), \(Int64(timeoutSeconds)), \(expires), \(lockOwner), \(lockExpires), \(now))
            ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, timeout_seconds = EXCLUDED.timeout_seconds,
                expires_ms = EXCLUDED.expires_ms, lock_owner = EXCLUDED.lock_owner, lock_expires_ms = EXCLUDED.lock_expires_ms
            """)
    }

    public func save(id: String, owner: String, data: String, timeoutSeconds: Int) async throws -> Bool {
        defer { locks.unlock(id, owner: owner) }
        try await ready()
        let expires = clock.nowMillis() + Int64(timeoutSeconds) * 1000
        let rows = try await database.query("""
            UPDATE porter_sessions SET data = \(data), timeout_seconds = \(Int64(timeoutSeconds)), expires_ms = \(expires),
                lock_owner = NULL, lock_expires_ms = NULL
            WHERE id = \(id) AND lock_owner = \(owner) RETURNING id
            """)
        return !rows.isEmpty
    }

    public func release(id: String, owner: String, timeoutSeconds: Int) async throws {
        defer { locks.unlock(id, owner: owner) }
        try await ready()
        let expires = clock.nowMillis() + Int64(timeoutSeconds) * 1000
        try await database.query("""
            UPDATE porter_sessions SET timeout_seconds = \(Int64(timeoutSeconds)), expires_ms = \(expires),
                lock_owner = NULL, lock_expires_ms = NULL
            WHERE id = \(id) AND lock_owner = \(owner)
            """)
    }

    public func touch(id: String, timeoutSeconds: Int) async throws {
        try await ready()
        let now = clock.nowMillis()
        let expires = now + Int64(timeoutSeconds) * 1000
        try await database.query("UPDATE porter_sessions SET expires_ms = \(expires) WHERE id = \(id) AND expires_ms > \(now)")
    }

    public func delete(id: String, owner: String?) async throws {
        defer { if let owner { locks.unlock(id, owner: owner) } }
        try await ready()
        try await database.query("DELETE FROM porter_sessions WHERE id = \(id)")
    }

    public func purgeExpired() async throws -> Int {
        try await ready()
        let now = clock.nowMillis()
        let rows = try await database.query("""
            DELETE FROM porter_sessions WHERE expires_ms <= \(now) AND (lock_owner IS NULL OR lock_expires_ms <= \(now))
            RETURNING id
            """)
        return rows.count
    }

    /// A record from a `data, timeout_seconds, expires_ms` row.
    private static func record(_ row: PostgresRow) throws -> SessionRecord {
        SessionRecord(data: try row.string(0), timeoutSeconds: Int(try row.int(1)), expiresAtMillis: try row.int(2))
    }

    /// Nothing to do: the pool (`database`) is stopped by the `ServiceGroup` that runs it.
    public func close() async {}
}
