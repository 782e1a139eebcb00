import Synchronization
import Porter

/// The last `limit` request snapshots, oldest overwritten first (ASP.NET trace with `mostRecent="true"`).
///
/// Thread-safe: any number of requests may record while the trace page reads.
public final class TraceLog: Sendable {

    /// The default number of requests kept.
    public static let defaultLimit = 100

    struct Ring {
        var slots: [RequestSnapshot?]
        var next = 0
        var recorded = 0
        var kept = 0
    }

    /// How many requests are kept.
    public let limit: Int
    private let ring: Mutex<Ring>

    /// An empty log keeping the last `limit` requests (at least 1, at most 10 000).
    public init(limit: Int = TraceLog.defaultLimit) {
        let limit = min(max(limit, 1), 10_000)
        self.limit = limit
        ring = Mutex(Ring(slots: Array(repeating: nil, count: limit)))
    }

    /// Adds a snapshot (overwriting the oldest when full) and returns it with its sequence number.
    @discardableResult
    public func record(_ snapshot: RequestSnapshot) -> RequestSnapshot {
        var snapshot = snapshot
        ring.withLock { r in
            r.recorded += 1
            snapshot.sequence = r.recorded
            r.slots[r.next] = snapshot
            r.next = (r.next + 1) % limit
            r.kept = min(r.kept + 1, limit)
        }
        return snapshot
    }

    /// The kept snapshots, newest first.
    public func recent() -> [RequestSnapshot] {
        ring.withLock { r in
            var out: [RequestSnapshot] = []
            out.reserveCapacity(r.kept)
            var i = r.next
            for _ in 0..<limit {
                i = (i - 1 + limit) % limit
                guard let s = r.slots[i] else { break }
                out.append(s)
            }
            return out
        }
    }

    /// The kept snapshot with `sequence`, if it has not been overwritten.
    public func snapshot(sequence: Int) -> RequestSnapshot? {
        recent().first { $0.sequence == sequence }
    }

    /// How many requests were ever recorded (kept or overwritten).
    public var totalRecorded: Int { ring.withLock { $0.recorded } }

    /// How many snapshots are kept now.
    public var count: Int { ring.withLock { $0.kept } }

    /// Forgets every kept snapshot (the trace page's "clear current trace").
    public func clear() {
        ring.withLock { r in
            r.slots = Array(repeating: nil, count: limit)
            r.next = 0
            r.kept = 0
        }
    }
}
