import Porter
import Synchronization

/// Backoff for password logins, counted three ways within `window`:
/// - `maxFailures` failed attempts for one user *from one client* (address, or IPv6 /64);
/// - `maxUserFailures` for one user from all clients together (guessing one account from many addresses);
/// - `maxAddressFailures` from one client for any users (guessing many accounts).
///
/// Past a limit, attempts under that key are refused for `lockout` without running the KDF. When the lockout ends one
/// attempt at a time is admitted, and each further failure doubles the lockout, up to `maxLockout`. Attempts in flight
/// count as failures until they finish, so concurrent guesses cannot overshoot. A client that fails for a user locks
/// only itself out of that account: locking the account for everyone takes `maxUserFailures` (10 clients' worth by
/// default), and the owner can sign in from another network meanwhile.
///
/// The table is bounded (`capacity` keys); when full, entries that block nothing are dropped first, then the
/// oldest. A successful login clears the user's record (not the address's: one's own account must not reset the
/// budget for guessing others').
public final class LoginThrottle: Sendable {
    /// Failures for one user from one client within `window` before that client's attempts for the user are refused.
    public let maxFailures: Int
    /// Failures for one user from all clients within `window` before every attempt for that user is refused.
    public let maxUserFailures: Int
    /// Failures per client address within `window` before attempts from it are refused.
    public let maxAddressFailures: Int
    /// How long failures are remembered.
    public let window: Duration
    /// The first refusal period; it doubles with each failure beyond the limit.
    public let lockout: Duration
    /// The longest refusal period.
    public let maxLockout: Duration
    /// The most keys remembered.
    public let capacity: Int
    private let clock: WallClock
    private let table = Mutex<[String: Entry]>([:])

    struct Entry {
        var failures = 0
        var inFlight = 0
        var firstFailure: Int64 = 0
        var blockedUntil: Int64 = 0
    }

    /// A throttle; a limit of 0 turns that count off (`maxUserFailures` defaults to ten clients' worth of `maxFailures`).
    public init(maxFailures: Int = 5, maxUserFailures: Int? = nil, maxAddressFailures: Int = 20, window: Duration = .seconds(15 * 60),
                lockout: Duration = .seconds(30), maxLockout: Duration = .seconds(15 * 60), capacity: Int = 10_000,
                clock: WallClock = .system) {
        self.maxFailures = maxFailures
        self.maxUserFailures = maxUserFailures ?? maxFailures * 10
        self.maxAddressFailures = maxAddressFailures
        self.window = window
        self.lockout = lockout
        self.maxLockout = maxLockout
        self.capacity = max(16, capacity)
        self.clock = clock
    }

    /// An admitted attempt: pass it back to `finish` with the outcome.
    public struct Attempt: Sendable {
        let keys: [(key: String, limit: Int)]
    }

    /// Admits an attempt for `user` from `address`, or returns how many seconds the client must wait (429). A
    /// `trustedDevice` (a browser that has signed in as `user` before: `DeviceCookie`) is not held by the user's count
    /// over all clients, only by its own.
    public func begin(user: String, address: String, trustedDevice: Bool = false) -> Result<Attempt, LoginThrottled> {
        var keys: [(key: String, limit: Int)] = []
        // The user name is the last part of "c:": it may hold any character, the address none of "\u{0}".
        if maxFailures > 0 { keys.append(("c:" + address + "\u{0}" + user, maxFailures)) }
        if maxUserFailures > 0, !trustedDevice { keys.append(("u:" + user, maxUserFailures)) }
        if maxAddressFailures > 0, !address.isEmpty { keys.append(("a:" + address, maxAddressFailures)) }
        let now = clock.nowMillis()
        let windowMillis = window.milliseconds
        return table.withLock { table -> Result<Attempt, LoginThrottled> in
            var wait: Int64 = 0
            for (key, limit) in keys {
                guard var entry = table[key] else { continue }
                if entry.failures > 0 && now - entry.firstFailure > windowMillis && entry.blockedUntil <= now {
                    entry.failures = 0
                    table[key] = entry
                }
                if entry.blockedUntil > now {
                    wait = max(wait, entry.blockedUntil - now)
                } else if entry.failures >= limit ? entry.inFlight > 0 : entry.failures + entry.inFlight >= limit {
                    // Under the limit, guesses already running use up the allowance; past it (the lockout over), one
                    // attempt at a time, whose failure locks again for twice as long. Wait for them rather than start
                    // another KDF.
                    wait = max(wait, 1000)
                }
            }
            if wait > 0 { return .failure(LoginThrottled(retryAfterSeconds: Int((wait + 999) / 1000))) }
            if table.count + keys.count > capacity { Self.evict(&table, now: now, keep: capacity / 2) }
            for (key, _) in keys { table[key, default: Entry()].inFlight += 1 }
            return .success(Attempt(keys: keys))
        }
    }

    /// Records the outcome of an admitted attempt (`nil`: it never checked a password, e.g. the server was busy).
    public func finish(_ attempt: Attempt, succeeded: Bool?) {
        let now = clock.nowMillis()
        table.withLock { table in
            for (key, limit) in attempt.keys {
                guard var entry = table[key] else { continue }
                entry.inFlight = max(0, entry.inFlight - 1)
                if succeeded == true, !key.hasPrefix("a:") {
                    // Only the user's records: a login of one's own account must not reset an address's guessing budget.
                    entry.failures = 0
                    entry.blockedUntil = 0
                } else if succeeded == false {
                    if entry.failures == 0 { entry.firstFailure = now }
                    entry.failures += 1
                    if entry.failures >= limit {
                        let doublings = min(20, entry.failures - limit)
                        let period = min(maxLockout.milliseconds, lockout.milliseconds << doublings)
                        entry.blockedUntil = max(entry.blockedUntil, now + period)
                    }
                }
                if entry.failures == 0 && entry.inFlight == 0 && entry.blockedUntil <= now {
                    table[key] = nil
                } else {
                    table[key] = entry
                }
            }
        }
    }

    /// Keys remembered now (for tests and status pages).
    public var trackedKeys: Int { table.withLock { $0.count } }

    private static func evict(_ table: inout [String: Entry], now: Int64, keep: Int) {
        table = table.filter { $0.value.inFlight > 0 || $0.value.blockedUntil > now }
        guard table.count > keep else { return }
        let oldest = table.sorted { $0.value.firstFailure < $1.value.firstFailure }.prefix(table.count - keep)
        for (key, entry) in oldest where entry.inFlight == 0 { table[key] = nil }
    }
}

/// Too many failed logins for this user or from this address: answer 429 with `Retry-After`.
public struct LoginThrottled: Error, Sendable, Equatable {
    /// Seconds until another attempt is admitted.
    public let retryAfterSeconds: Int
}
