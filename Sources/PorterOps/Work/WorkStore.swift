import Foundation
import GRDB
import PorterHost
import PorterState

/// The SQLite record of background work items (one row per item), so their status survives restarts.
///
/// Writes are synchronous on purpose: GRDB's async writes throw when the calling task is cancelled, and a
/// cancelled item must still be able to record that it was interrupted.
final class WorkStore: Sendable {
    let database: DatabasePool
    /// This process's identity in the `owner` column: `pid:starttime` (start time from `/proc`, so a reused
    /// pid — e.g. pid 1 in every container restart — is not mistaken for the old process).
    let owner: String

    static let table = "porter_work_items"

    /// Opens (creating if needed) the store at `path` and migrates its schema.
    init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = "porter.backgroundWork"
        try FileSystem.makeParentDirectory(of: path)
        database = try DatabasePool(path: path, configuration: config)
        owner = ProcessIdentity.current
        var migrator = DatabaseMigrator()
        migrator.registerMigration("porter_work_items.v1") { db in
            try db.execute(sql: """
                CREATE TABLE \(WorkStore.table) (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','interrupted')),
                    progress TEXT,
                    message TEXT,
                    detail TEXT,
                    created_at DOUBLE NOT NULL,
                    started_at DOUBLE,
                    finished_at DOUBLE,
                    owner TEXT NOT NULL
                );
                CREATE INDEX \(WorkStore.table)_unfinished ON \(WorkStore.table)(status) WHERE status IN ('queued','running');
                """)
        }
        migrator.registerMigration("porter_work_items.v2.requested_by") { db in
            try db.execute(sql: """
                ALTER TABLE \(WorkStore.table) ADD COLUMN requested_by TEXT;
                CREATE INDEX \(WorkStore.table)_requester ON \(WorkStore.table)(requested_by)
                    WHERE status IN ('queued','running') AND requested_by IS NOT NULL;
                """)
        }
        migrator.registerMigration("porter_work_items.v3.kinds") { db in
            try db.execute(sql: """
                ALTER TABLE \(WorkStore.table) ADD COLUMN payload TEXT;
                ALTER TABLE \(WorkStore.table) ADD COLUMN idempotency_key TEXT;
                CREATE UNIQUE INDEX \(WorkStore.table)_idempotency ON \(WorkStore.table)(idempotency_key)
                    WHERE idempotency_key IS NOT NULL;
                """)
        }
        try migrator.migrate(database)
    }

    /// Marks items left `queued`/`running` by processes that no longer exist as `interrupted`; returns their ids.
    func recoverAbandoned(message: String) throws -> [String] {
        try database.write { db in
            let rows = try Row.fetchAll(db, sql: "SELECT id, owner FROM \(WorkStore.table) WHERE status IN ('queued','running')")
            var ids: [String] = []
            for row in rows {
                let id: String = row["id"]
                let itemOwner: String = row["owner"]
                if itemOwner == owner || !ProcessIdentity.isAlive(itemOwner) { ids.append(id) }
            }
            let now = Date().timeIntervalSince1970
            for id in ids {
                try db.execute(sql: """
                    UPDATE \(WorkStore.table) SET status = 'interrupted', message = ?, finished_at = ?
                    WHERE id = ? AND status IN ('queued','running')
                    """, arguments: [message, now, id])
            }
            return ids
        }
    }

    /// Deletes finished items older than `age`; returns how many.
    @discardableResult
    func purgeFinished(olderThan age: TimeInterval) throws -> Int {
        let cutoff = Date().timeIntervalSince1970 - age
        return try database.write { db in
            try db.execute(sql: """
                DELETE FROM \(WorkStore.table) WHERE status IN ('succeeded','failed','interrupted') AND finished_at < ?
                """, arguments: [cutoff])
            return db.changesCount
        }
    }

    /// Records a new `queued` item, unless one with `idempotencyKey` exists (then `.existing` with its id); with
    /// `requestedBy`, only if that requester has fewer than `maxPerOwner` items queued or running (counted and
    /// inserted in one IMMEDIATE transaction, so processes sharing the file agree; else `.requesterQuotaExceeded`).
    func insert(id: WorkItemID, name: String, createdAt: Date, requestedBy: String? = nil, maxPerOwner: Int = .max,
                payload: String? = nil, idempotencyKey: String? = nil) throws -> JobEnqueueOutcome {
        try database.writeWithoutTransaction { db in
            var outcome = JobEnqueueOutcome.requesterQuotaExceeded
            try db.inTransaction(.immediate) {
                if let idempotencyKey, let existing = try String.fetchOne(db, sql: """
                    SELECT id FROM \(WorkStore.table) WHERE idempotency_key = ?
                    """, arguments: [idempotencyKey]) {
                    outcome = .existing(existing)
                    return .commit
                }
                if let requestedBy {
                    let unfinished = try Int.fetchOne(db, sql: """
                        SELECT COUNT(*) FROM \(WorkStore.table) WHERE requested_by = ? AND status IN ('queued','running')
                        """, arguments: [requestedBy]) ?? 0
                    guard unfinished < maxPerOwner else { return .commit }
                }
                try db.execute(sql: """
                    INSERT INTO \(WorkStore.table) (id, name, status, created_at, owner, requested_by, payload, idempotency_key)
                    VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)
                    """, arguments: [id.rawValue, name, createdAt.timeIntervalSince1970, owner, requestedBy, payload, idempotencyKey])
                outcome = .created(id.rawValue)
                return .commit
            }
            return outcome
        }
    }

    /// The id of the item enqueued with `idempotencyKey`, if there is one.
    func itemID(idempotencyKey: String) throws -> WorkItemID? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT id FROM \(WorkStore.table) WHERE idempotency_key = ?", arguments: [idempotencyKey])
        }.flatMap { WorkItemID($0) }
    }

    /// `queued` → `running`; false if the item was no longer queued.
    func markRunning(_ id: WorkItemID) throws -> Bool {
        try database.write { db in
            try db.execute(sql: """
                UPDATE \(WorkStore.table) SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'
                """, arguments: [Date().timeIntervalSince1970, id.rawValue])
            return db.changesCount == 1
        }
    }

    /// Sets a running item's progress message.
    func setProgress(_ id: WorkItemID, _ progress: String) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE \(WorkStore.table) SET progress = ? WHERE id = ? AND status = 'running'",
                           arguments: [progress, id.rawValue])
        }
    }

    /// `running` → a final status; false if the item was no longer running (e.g. already marked interrupted).
    @discardableResult
    func finish(_ id: WorkItemID, status: WorkItemStatus, detail: String? = nil) throws -> Bool {
        let message: String? = switch status {
        case .failed(let m): m
        case .interrupted: "cancelled while running (server shutdown)"
        default: nil
        }
        return try database.write { db in
            try db.execute(sql: """
                UPDATE \(WorkStore.table) SET status = ?, message = ?, detail = ?, finished_at = ?
                WHERE id = ? AND status = 'running'
                """, arguments: [status.name, message, detail, Date().timeIntervalSince1970, id.rawValue])
            return db.changesCount == 1
        }
    }

    /// Marks the given items `interrupted` with `message` if they are still `queued` or `running`.
    func interrupt(_ ids: [WorkItemID], message: String) throws {
        guard !ids.isEmpty else { return }
        let now = Date().timeIntervalSince1970
        try database.write { db in
            for id in ids {
                try db.execute(sql: """
                    UPDATE \(WorkStore.table) SET status = 'interrupted', message = ?, finished_at = ?
                    WHERE id = ? AND status IN ('queued','running')
                    """, arguments: [message, now, id.rawValue])
            }
        }
    }

    /// The item's record, or `nil` when unknown.
    func record(_ id: WorkItemID) throws -> WorkItemRecord? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM \(WorkStore.table) WHERE id = ?", arguments: [id.rawValue])
        }.map(WorkStore.record(from:))
    }

    /// Every item's record, newest first (at most `limit`).
    func records(limit: Int) throws -> [WorkItemRecord] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM \(WorkStore.table) ORDER BY created_at DESC, rowid DESC LIMIT ?",
                             arguments: [limit])
        }.map(WorkStore.record(from:))
    }

    static func record(from row: Row) -> WorkItemRecord {
        let statusName: String = row["status"]
        let message: String? = row["message"]
        let status: WorkItemStatus = switch statusName {
        case "queued": .queued
        case "running": .running
        case "succeeded": .succeeded
        case "failed": .failed(message ?? "failed")
        default: .interrupted
        }
        let id: String = row["id"]
        let started: Double? = row["started_at"]
        let finished: Double? = row["finished_at"]
        return WorkItemRecord(id: WorkItemID(id) ?? WorkItemID(), name: row["name"], status: status, progress: row["progress"],
                              message: message, createdAt: Date(timeIntervalSince1970: row["created_at"]),
                              startedAt: started.map(Date.init(timeIntervalSince1970:)),
                              finishedAt: finished.map(Date.init(timeIntervalSince1970:)))
    }
}

/// Identifies a process across pid reuse: `pid:starttime`.
enum ProcessIdentity {
    /// This process's identity.
    static let current: String = identity(of: getpid()) ?? "\(getpid()):?"

    /// `pid:starttime` for a running process, or `nil` if there is none with that pid.
    static func identity(of pid: Int32) -> String? {
        #if os(Linux)
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After "pid (comm)": field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
        guard fields.count > 19 else { return nil }
        return "\(pid):\(fields[19])"
        #else
        return kill(pid, 0) == 0 || errno == EPERM ? "\(pid):?" : nil
        #endif
    }

    /// Whether the process recorded as `owner` still runs (same pid and same start time).
    static func isAlive(_ owner: String) -> Bool {
        guard let colon = owner.firstIndex(of: ":"), let pid = Int32(owner[..<colon]), pid > 0 else { return false }
        return identity(of: pid) == owner
    }
}
