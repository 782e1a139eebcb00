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
        var result: [Connection] = []
        snapshot(into: &result)
        return result
    }

    /// Replaces `connections` with every open connection, keeping its capacity: housekeeping reuses one array
    /// every 20 ms instead of allocating one.
    func snapshot(into connections: inout [Connection]) {
        connections.removeAll(keepingCapacity: true)
        // By index: an unoptimised build allocates in `for in` over the shards (every pass, 50 times a second).
        for i in shards.indices {
            shards[i].lock.withLock { if !$0.isEmpty { connections.append(contentsOf: $0.values) } }
        }
    }
}
