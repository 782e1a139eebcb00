import Porter

/// Settings of the session module (cookie, timeouts, limits), from `porter.toml` or code.
public struct SessionConfiguration: Sendable, Equatable {
    /// The session cookie's name (ASP.NET's `ASP.NET_SessionId`).
    public var cookieName = "porter_session"
    /// The cookie's `Path`.
    public var cookiePath = "/"
    /// Whether the cookie carries `Secure` (default; turn it off only for a plain-http site such as the local demo).
    public var cookieSecure = true
    /// The cookie's `SameSite`.
    public var cookieSameSite: SetCookie.SameSite = .lax
    /// Sliding expiry: a session lives this long after its last request (ASP.NET's 20 minutes).
    public var timeout: Duration = .seconds(20 * 60)
    /// The largest serialized session in bytes; larger sessions are not saved and the request fails (500).
    public var maxBytes = 64 * 1024
    /// How long an exclusive request waits for its session's lock before answering 503.
    public var lockTimeout: Duration = .seconds(10)
    /// How long a lock is valid; a lock older than this is treated as abandoned by a crashed process.
    public var lockLease: Duration = .seconds(120)
    /// Whether read-only requests wait until no exclusive request holds the session (ASP.NET's locking: readers
    /// see the writer's result); default off: read-only requests never wait.
    public var readersWaitForWriter = false
    /// How often the `SessionPurger` service purges expired sessions; zero disables it.
    public var purgeInterval: Duration = .seconds(60)
    /// New sessions one client address may start per 10 minutes, per process (`NewSessionLimit`); 0: no limit.
    public var newSessionsPerClient = 1000

    /// The defaults.
    public init() {}

    /// Reads the options `cookie_name`, `cookie_path`, `cookie_secure`, `cookie_same_site`, `timeout_minutes`,
    /// `max_bytes`, `lock_timeout_ms`, `lock_lease_seconds`, `purge_interval_seconds`, `readers_wait_for_writer`,
    /// `new_sessions_per_client` (per 10 minutes, default 1000, 0 for no limit).
    public init(options: Options) throws {
        cookieName = try options.string("cookie_name", default: cookieName)
        cookiePath = try options.string("cookie_path", default: cookiePath)
        cookieSecure = try options.bool("cookie_secure", default: cookieSecure)
        cookieSameSite = try SameSiteOption.parse(options.string("cookie_same_site", default: "Lax"), origin: options.origin)
        let minutes = try options.int("timeout_minutes", default: 20)
        let maxBytes = try options.int("max_bytes", default: maxBytes)
        let lockMillis = try options.int("lock_timeout_ms", default: 10_000)
        let leaseSeconds = try options.int("lock_lease_seconds", default: 120)
        let purgeSeconds = try options.int("purge_interval_seconds", default: 60)
        readersWaitForWriter = try options.bool("readers_wait_for_writer", default: false)
        newSessionsPerClient = try options.int("new_sessions_per_client", default: newSessionsPerClient)
        guard newSessionsPerClient >= 0 else { throw ConfigurationError("\(options.origin): new_sessions_per_client must not be negative") }
        guard minutes >= 1 else { throw ConfigurationError("\(options.origin): timeout_minutes must be at least 1") }
        guard maxBytes >= 2 else { throw ConfigurationError("\(options.origin): max_bytes must be positive") }
        guard lockMillis >= 0, leaseSeconds >= 1, purgeSeconds >= 0 else {
            throw ConfigurationError("\(options.origin): lock_timeout_ms, lock_lease_seconds and purge_interval_seconds must not be negative")
        }
        guard CookieName.isValid(cookieName) else { throw ConfigurationError("\(options.origin): cookie_name \(cookieName) is not a valid cookie name") }
        timeout = .seconds(minutes * 60)
        self.maxBytes = maxBytes
        lockTimeout = .milliseconds(lockMillis)
        lockLease = .seconds(leaseSeconds)
        purgeInterval = .seconds(purgeSeconds)
    }
}

/// Parses `SameSite` option values.
enum SameSiteOption {
    static func parse(_ text: String, origin: String) throws -> SetCookie.SameSite {
        switch text.lowercased() {
        case "lax": .lax
        case "strict": .strict
        case "none": .none
        default: throw ConfigurationError("\(origin): same_site must be Lax, Strict or None, got \(text)")
        }
    }
}

/// Cookie name validation (RFC 6265 token).
enum CookieName {
    static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { b in
            b > 0x20 && b < 0x7F && !"()<>@,;:\\\"/[]?={}".utf8.contains(b)
        }
    }
}

/// Session ids: 192 random bits as 32 base64url characters.
public enum SessionID {
    /// A fresh random id.
    public static func generate() -> String { Base64URL.encode(SecureRandom.bytes(24)) }

    /// Whether `id` has the shape of an id Porter issues (anything else from a cookie is ignored).
    public static func isWellFormed(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy(Base64URL.isAlphabet)
    }
}
