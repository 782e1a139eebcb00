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
    let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let schema = Mutex<Task<Void, any Error>?>(nil)
    private let locks = AsyncKeyedLock()
    private let clock: WallClock
    private let logger: Logger

    /// A store using `configuration`; connections open lazily and the table is created on first use.
    public init(configuration: PostgresClient.Configuration, clock: WallClock = .system,
                logger: Logger = Logger(label: "porter.sessions.postgres")) {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.clock = clock
        self.logger = logger
        runTask = Task { await client.run() }
    }

    /// A store for a `postgres://user:password@host:port/database` URL (`?sslmode=disable|prefer|require`;
    /// `?host=/run/postgresql` connects through that socket directory).
    public convenience init(url: String, clock: WallClock = .system,
                            logger: Logger = Logger(label: "porter.sessions.postgres")) throws {
        self.init(configuration: try PostgresSessionStore.configuration(url: url), clock: clock, logger: logger)
    }

    public var kind: String { "postgres" }

    /// Parses a `postgres://` URL into a client configuration.
    public static func configuration(url: String) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql" else {
            throw ConfigurationError("postgres_url must look like postgres://user:password@host:port/database")
        }
        let query = Dictionary((c.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
        let user = c.user.map { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        let password = c.password.map { $0.removingPercentEncoding ?? $0 }
        var database = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        if database.isEmpty { database = user }
        let port = c.port ?? 5432
        if let socketDir = query["host"], socketDir.hasPrefix("/") {
            return .init(unixSocketPath: "\(socketDir)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        }
        return try configuration(host: c.host ?? "localhost", port: port, user: user, password: password,
                                 database: database, tls: query["sslmode"] ?? "disable")
    }

    /// A TCP client configuration; `tls` is `disable`, `prefer` or `require`.
    public static func configuration(host: String, port: Int, user: String, password: String?, database: String,
                                     tls: String) throws -> PostgresClient.Configuration {
        let mode: PostgresClient.Configuration.TLS
        switch tls {
        case "disable": mode = .disable
        case "prefer": mode = .prefer(.makeClientConfiguration())
        case "require", "verify-full": mode = .require(.makeClientConfiguration())
        default: throw ConfigurationError("postgres tls/sslmode must be disable, prefer or require, got \(tls)")
        }
        return .init(host: host, port: port, username: user, password: password, database: database, tls: mode)
    }

    /// Creates the table once (under an advisory lock, so concurrent processes do not race).
    func ready() async throws {
        let task = schema.withLock { slot -> Task<Void, any Error> in
            if let existing = slot { return existing }
            let client = self.client, logger = self.logger
            let made = Task {
                try await client.withTransaction(logger: logger) { conn in
                    try await conn.query("SELECT pg_advisory_xact_lock(7270001)", logger: logger)
                    try await conn.query("""
                        CREATE TABLE IF NOT EXISTS porter_sessions (
                            id TEXT PRIMARY KEY,
                            data TEXT NOT NULL,
                            timeout_seconds BIGINT NOT NULL,
                            expires_ms BIGINT NOT NULL,
                            lock_owner TEXT,
                            lock_expires_ms BIGINT,
                            created_ms BIGINT NOT NULL
                        )
                        """, logger: logger)
                    try await conn.query("CREATE INDEX IF NOT EXISTS porter_sessions_expires ON porter_sessions (expires_ms)",
                                         logger: logger)
                }
            }
            slot = made
            return made
        }
        do {
            try await task.value
        } catch {
            schema.withLock { if $0 == task { $0 = nil } }
            throw error
        }
    }

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

    public func close() async {
        runTask.cancel()
        await runTask.value
    }
}
