import Foundation
import GRDB
import PorterHost

/// Sessions in an SQLite file (the default store): WAL mode, a busy timeout, and lock columns so several
/// Porter processes on one host can share the file and its exclusive session locks.
public final class SQLiteSessionStore: SessionStore {
    /// The database file.
    public let path: String
    let pool: DatabasePool
    private let locks = AsyncKeyedLock()
    private let clock: WallClock

    /// Opens (creating if needed) the store at `path`; `busyTimeout` is how long a write waits for another
    /// process's write transaction.
    public init(path: String, clock: WallClock = .system, busyTimeout: Duration = .seconds(5)) throws {
        self.path = path
        self.clock = clock
        var configuration = Configuration()
        configuration.busyMode = .timeout(Double(busyTimeout.milliseconds) / 1000)
        configuration.label = "porter.sessions"
        try FileSystem.makeParentDirectory(of: path)
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS porter_sessions (
                    id TEXT PRIMARY KEY NOT NULL,
                    data TEXT NOT NULL,
                    timeout_seconds INTEGER NOT NULL,
                    expires_ms INTEGER NOT NULL,
                    lock_owner TEXT,
                    lock_expires_ms INTEGER,
                    created_ms INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS porter_sessions_expires ON porter_sessions(expires_ms);
                """)
        }
    }

    public var kind: String { "sqlite" }

    /// Sessions stored now, expired ones included (for status pages and tests).
    public func count() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM porter_sessions") ?? 0 }
    }

    public func read(id: String) async throws -> SessionRecord? {
        let now = clock.nowMillis()
        return try await pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT data, timeout_seconds, expires_ms FROM porter_sessions WHERE id = ? AND expires_ms > ?
                """, arguments: [id, now]).map(Self.record)
        }
    }

    public func acquire(id: String, owner: String, wait: Duration, lease: Duration) async throws -> SessionRecord? {
        let clock = self.clock, pool = self.pool
        return try await DatabaseLockPolling.acquire(locks: locks, id: id, owner: owner, wait: wait) {
            let now = clock.nowMillis()
            return try await pool.write { db in
                if let row = try Row.fetchOne(db, sql: """
                    UPDATE porter_sessions SET lock_owner = ?, lock_expires_ms = ?
                    WHERE id = ? AND expires_ms > ? AND (lock_owner IS NULL OR lock_expires_ms <= ?)
                    RETURNING data, timeout_seconds, expires_ms
                    """, arguments: [owner, now + lease.milliseconds, id, now, now]) {
                    return .acquired(Self.record(row))
                }
                let exists = try Bool.fetchOne(db, sql: "SELECT 1 FROM porter_sessions WHERE id = ? AND expires_ms > ?",
                                               arguments: [id, now]) ?? false
                return exists ? .busy : .missing
            }
        }
    }

    public func insert(id: String, data: String, timeoutSeconds: Int, lockOwner: String?, lease: Duration) async throws {
        let now = clock.nowMillis()
        try await pool.write { db in
            try db.execute(sql: """
                INSERT INTO porter_sessions (id, data, timeout_seconds, expires_ms, lock_owner, lock_expires_ms, created_ms)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET data = excluded.data, timeout_seconds = excluded.timeout_seconds,
                    expires_ms = excluded.expires_ms, lock_owner = excluded.lock_owner, lock_expires_ms = excluded.lock_expires_ms
                """, arguments: [id, data, timeoutSeconds, now + Int64(timeoutSeconds) * 1000, lockOwner,
                                 lockOwner == nil ? nil : now + lease.milliseconds, now])
        }
    }

    public func save(id: String, owner: String, data: String, timeoutSeconds: Int) async throws -> Bool {
        defer { locks.unlock(id, owner: owner) }
        let now = clock.nowMillis()
        return try await pool.write { db in
            try db.execute(sql: """
                UPDATE porter_sessions SET data = ?, timeout_seconds = ?, expires_ms = ?, lock_owner = NULL, lock_expires_ms = NULL
                WHERE id = ? AND lock_owner = ?
                """, arguments: [data, timeoutSeconds, now + Int64(timeoutSeconds) * 1000, id, owner])
            return db.changesCount == 1
        }
    }

    public func release(id: String, owner: String, timeoutSeconds: Int) async throws {
        defer { locks.unlock(id, owner: owner) }
        let now = clock.nowMillis()
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE porter_sessions SET timeout_seconds = ?, expires_ms = ?, lock_owner = NULL, lock_expires_ms = NULL
                WHERE id = ? AND lock_owner = ?
                """, arguments: [timeoutSeconds, now + Int64(timeoutSeconds) * 1000, id, owner])
        }
    }

    public func touch(id: String, timeoutSeconds: Int) async throws {
        let now = clock.nowMillis()
        try await pool.write { db in
            try db.execute(sql: "UPDATE porter_sessions SET expires_ms = ? WHERE id = ? AND expires_ms > ?",
                           arguments: [now + Int64(timeoutSeconds) * 1000, id, now])
        }
    }

    public func delete(id: String, owner: String?) async throws {
        defer { if let owner { locks.unlock(id, owner: owner) } }
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM porter_sessions WHERE id = ?", arguments: [id])
        }
    }

    public func purgeExpired() async throws -> Int {
        let now = clock.nowMillis()
        return try await pool.write { db in
            try db.execute(sql: """
                DELETE FROM porter_sessions WHERE expires_ms <= ? AND (lock_owner IS NULL OR lock_expires_ms <= ?)
                """, arguments: [now, now])
            return db.changesCount
        }
    }

    public func purgeExpiredSessions() async throws -> [String: String]? {
        let now = clock.nowMillis()
        return try await pool.write { db in
            let condition = "expires_ms <= ? AND (lock_owner IS NULL OR lock_expires_ms <= ?)"
            var purged: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, data FROM porter_sessions WHERE \(condition)", arguments: [now, now]) {
                purged[row["id"]] = row["data"]
            }
            try db.execute(sql: "DELETE FROM porter_sessions WHERE \(condition)", arguments: [now, now])
            return purged
        }
    }

    public func close() async {
        try? pool.close()
    }

    static func record(_ row: Row) -> SessionRecord {
        SessionRecord(data: row["data"], timeoutSeconds: row["timeout_seconds"], expiresAtMillis: row["expires_ms"])
    }
}
