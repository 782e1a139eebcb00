import Synchronization

/// The open connections, split into shards so threads accepting and closing connections at once rarely
/// contend for the same lock. Holding a connection here keeps it alive while epoll refers to it.
final class ConnectionTable: Sendable {
    private static let shardCount = 16
    private final class Shard: Sendable {
        let lock = Mutex<[ObjectIdentifier: Connection]>([:])
    }
    private let shards: [Shard] = (0..<ConnectionTable.shardCount).map { _ in Shard() }

    private func shard(_ conn: Connection) -> Int { Int(UInt32(bitPattern: conn.fd)) % Self.shardCount }

    /// Adds a connection.
    func insert(_ conn: Connection) {
        shards[shard(conn)].lock.withLock { $0[ObjectIdentifier(conn)] = conn }
    }

    /// Removes a connection; false if it was not there.
    func remove(_ conn: Connection) -> Bool {
        shards[shard(conn)].lock.withLock { $0.removeValue(forKey: ObjectIdentifier(conn)) } != nil
    }

    /// Every open connection (a snapshot).
    var all: [Connection] {
        // One array, filled shard by shard (housekeeping takes this every 20 ms while requests are in flight).
        var result: [Connection] = []
        for shard in shards {
            shard.lock.withLock { if !$0.isEmpty { result.append(contentsOf: $0.values) } }
        }
        return result
    }
}
