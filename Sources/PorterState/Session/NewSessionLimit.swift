import Porter
import Synchronization

/// How many new sessions one client address may start per window (per process): every cookieless request to a page
/// that stores something starts one, so a client that never sends the cookie back (a flood: 77,000 rows in 10 s
/// against the demo's `/visits`) would otherwise fill the store for the session timeout. Past the limit the request is
/// still served, with a session that is not stored and no cookie; the client's next window starts afresh.
///
/// Fixed windows per address (the caller passes `HTTPRequest.clientKey`: an IPv6 client by its /64), in a table of at most
/// `capacity` addresses. When it is full, windows that have ended go first, then addresses still under the limit;
/// addresses at the limit are never forgotten early (clearing them let a flood from many addresses reset its own caps),
/// and while every remembered address is at the limit a new one is refused too (many addresses flooding at once).
/// `limit` 0 turns it off.
public final class NewSessionLimit: Sendable {
    /// New sessions one address may start per window; 0: no limit.
    public let limit: Int
    /// The window.
    public let window: Duration
    /// The most addresses remembered.
    public let capacity: Int
    private let clock: WallClock
    private let table = Mutex<[String: (start: Int64, count: Int, warned: Bool)]>([:])

    /// A limit of `limit` new sessions per `window` per address.
    public init(limit: Int, window: Duration = .seconds(600), capacity: Int = 10_000, clock: WallClock = .system) {
        self.limit = limit
        self.window = window
        self.capacity = max(16, capacity)
        self.clock = clock
    }

    /// Whether `address` may start one more session now (counting it), and whether this refusal is the window's first.
    public func admit(_ address: String) -> (admitted: Bool, firstRefusal: Bool) {
        guard limit > 0 else { return (true, false) }
        let now = clock.nowMillis()
        let windowMillis = window.milliseconds
        return table.withLock { table in
            var entry = table[address] ?? (now, 0, false)
            if now - entry.start >= windowMillis { entry = (now, 0, false) }
            if table[address] == nil, table.count >= capacity {
                table = table.filter { now - $0.value.start < windowMillis }
                if table.count >= capacity { table = table.filter { $0.value.count >= limit } }
                if table.count >= capacity { return (false, false) }
            }
            guard entry.count < limit else {
                let first = !entry.warned
                entry.warned = true
                table[address] = entry
                return (false, first)
            }
            entry.count += 1
            table[address] = entry
            return (true, false)
        }
    }
}
