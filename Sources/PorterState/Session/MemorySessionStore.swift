import Synchronization

/// Sessions in this process's memory (ASP.NET's `InProc` mode): for tests and development; lost on restart
/// and not shared between processes.
public final class MemorySessionStore: SessionStore {
    private struct Item {
        var record: SessionRecord
        var lockOwner: String?
        var lockExpiresMillis: Int64 = 0
    }

    private let items = Mutex<[String: Item]>([:])
    private let locks = AsyncKeyedLock()
    private let clock: WallClock

    /// An empty store reading time from `clock`.
    public init(clock: WallClock = .system) { self.clock = clock }

    public var kind: String { "memory" }

    /// How many sessions are stored (expired ones included until purged).
    public var count: Int { items.withLock { $0.count } }

    public func read(id: String) async throws -> SessionRecord? {
        let now = clock.nowMillis()
        return items.withLock { $0[id].flatMap { $0.record.expiresAtMillis > now ? $0.record : nil } }
    }

    public func acquire(id: String, owner: String, wait: Duration, lease: Duration) async throws -> SessionRecord? {
        try await locks.lock(id, owner: owner, timeout: wait)
        let now = clock.nowMillis()
        let record: SessionRecord? = items.withLock { items in
            guard var item = items[id], item.record.expiresAtMillis > now else { return nil }
            item.lockOwner = owner
            item.lockExpiresMillis = now + lease.milliseconds
            items[id] = item
            return item.record
        }
        if record == nil { locks.unlock(id, owner: owner) }
        return record
    }

    public func insert(id: String, data: String, timeoutSeconds: Int, lockOwner: String?, lease: Duration) async throws {
        let now = clock.nowMillis()
        items.withLock {
            $0[id] = Item(record: SessionRecord(data: data, timeoutSeconds: timeoutSeconds,
                                                expiresAtMillis: now + Int64(timeoutSeconds) * 1000),
                          lockOwner: lockOwner, lockExpiresMillis: lockOwner == nil ? 0 : now + lease.milliseconds)
        }
    }

    public func save(id: String, owner: String, data: String, timeoutSeconds: Int) async throws -> Bool {
        let now = clock.nowMillis()
        let saved: Bool = items.withLock { items in
            guard var item = items[id], item.lockOwner == owner else { return false }
            item.record = SessionRecord(data: data, timeoutSeconds: timeoutSeconds,
                                        expiresAtMillis: now + Int64(timeoutSeconds) * 1000)
            item.lockOwner = nil
            items[id] = item
            return true
        }
        locks.unlock(id, owner: owner)
        return saved
    }

    public func release(id: String, owner: String, timeoutSeconds: Int) async throws {
        let now = clock.nowMillis()
        items.withLock { items in
            guard var item = items[id], item.lockOwner == owner else { return }
            item.record.timeoutSeconds = timeoutSeconds
            item.record.expiresAtMillis = now + Int64(timeoutSeconds) * 1000
            item.lockOwner = nil
            items[id] = item
        }
        locks.unlock(id, owner: owner)
    }

    public func touch(id: String, timeoutSeconds: Int) async throws {
        let now = clock.nowMillis()
        items.withLock { items in
            guard var item = items[id], item.record.expiresAtMillis > now else { return }
            item.record.expiresAtMillis = now + Int64(timeoutSeconds) * 1000
            items[id] = item
        }
    }

    public func delete(id: String, owner: String?) async throws {
        _ = items.withLock { $0.removeValue(forKey: id) }
        if let owner { locks.unlock(id, owner: owner) }
    }

    public func purgeExpired() async throws -> Int {
        try await purgeExpiredSessions()?.count ?? 0
    }

    public func purgeExpiredSessions() async throws -> [String: String]? {
        let now = clock.nowMillis()
        return items.withLock { items in
            let expired = items.filter { $0.value.record.expiresAtMillis <= now
                && ($0.value.lockOwner == nil || $0.value.lockExpiresMillis <= now) }
            for id in expired.keys { items[id] = nil }
            return expired.mapValues(\.record.data)
        }
    }

    public func close() async {}
}
