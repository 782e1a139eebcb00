import Porter

/// A signed login ticket: who, when it was issued and when it expires (ASP.NET's `FormsAuthenticationTicket`),
/// and the user's ticket generation when it was issued (logout, a password change or deleting the user bump the
/// generation in the users database, which revokes every older ticket).
public struct AuthenticationTicket: Sendable, Equatable {
    /// The user name.
    public var user: String
    /// Issue time, Unix seconds.
    public var issued: Int64
    /// Expiry time, Unix seconds.
    public var expires: Int64
    /// The user's ticket generation at issue time.
    public var generation: Int64

    /// A ticket with the given parts.
    public init(user: String, issued: Int64, expires: Int64, generation: Int64 = 0) {
        self.user = user
        self.issued = issued
        self.expires = expires
        self.generation = generation
    }
}

/// The result of checking a login cookie.
public enum TicketValidation: Sendable, Equatable {
    /// Authentic and unexpired; `keyIndex` is the key that verified it (0 = the current signing key).
    case valid(AuthenticationTicket, keyIndex: Int)
    /// Authentic but past its expiry.
    case expired(AuthenticationTicket)
    /// Malformed, or the signature matches none of the keys (tampered or signed with a retired key).
    case invalid
}

/// Signs and checks login cookies with HMAC-SHA256 (ASP.NET's `FormsAuthentication`), with key rotation:
/// new cookies are signed with the first key, cookies signed with any listed key are accepted.
///
/// Cookie value: `base64url(user).expires.issued.generation.base64url(mac)`, the MAC made by the key ring for the
/// purpose `porter.auth-cookie` over `porter-auth-v2|user|expires|issued|generation`.
public struct CookieAuthentication: Sendable {
    /// The key-ring purpose of login cookies: their signatures are never valid for anything else.
    public static let signingPurpose = "porter.auth-cookie"

    /// The keys; the first signs, all verify.
    let keyRing: KeyRing
    /// The key bytes, signing key first.
    var keys: [[UInt8]] { keyRing.keys }
    /// The cookie's name.
    public var cookieName: String
    /// How long a ticket lives after it is issued (or renewed).
    public var lifetime: Duration
    /// Renew the ticket when less than half of its lifetime is left (ASP.NET's `slidingExpiration`).
    public var sliding: Bool
    /// `Secure` cookie flag.
    public var secure: Bool
    /// `HttpOnly` cookie flag.
    public var httpOnly: Bool
    /// `SameSite` cookie attribute.
    public var sameSite: SetCookie.SameSite?
    /// The cookie's `Path`.
    public var path: String
    /// Whether the cookie is persistent (`Max-Age` = lifetime) or a browser-session cookie.
    public var persistent: Bool
    /// Where the login form is (for redirects of anonymous users and for the login handler itself).
    public var loginURL: String
    /// The clock tickets are checked against.
    public var clock: WallClock

    /// A cookie authenticator; every key must have at least 32 bytes.
    public init(keys: [[UInt8]], cookieName: String = "porter_auth", lifetime: Duration = .seconds(30 * 60),
                sliding: Bool = true, secure: Bool = true, httpOnly: Bool = true, sameSite: SetCookie.SameSite? = .lax,
                path: String = "/", persistent: Bool = false, loginURL: String = "/login", clock: WallClock = .system) throws {
        do throws(ConfigurationError) {
            keyRing = try KeyRing(keys: keys)
        } catch {
            throw ConfigurationError("authentication keys: \(error.message)")
        }
        guard CookieName.isValid(cookieName) else { throw ConfigurationError("invalid cookie name \(cookieName)") }
        self.cookieName = cookieName
        self.lifetime = lifetime
        self.sliding = sliding
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.path = path
        self.persistent = persistent
        self.loginURL = loginURL
        self.clock = clock
    }

    /// Reads the key ring (`keys`: secrets `hex:…`, `base64:…`, `text:…` or bare hex/base64, ≥ 32 bytes each;
    /// `keys_file`: one secret per line, mode 0600; `keys_env`: a variable, default `PORTER_AUTH_KEYS`),
    /// `cookie_name`, `lifetime_minutes` (30), `sliding` (true), `secure` (true), `http_only` (true),
    /// `same_site` (Lax), `cookie_path` (/), `persistent` (false), `login_url` (/login).
    /// Returns `nil` when no key is configured (cookie login off).
    public static func fromOptions(_ options: Options, clock: WallClock = .system,
                                   environment: (String) -> String? = KeyRing.processEnvironment) throws -> CookieAuthentication? {
        guard let ring = try KeyRing.fromOptions(options, environmentVariable: "PORTER_AUTH_KEYS", environment: environment) else {
            return nil
        }
        let keys = ring.keys
        let minutes = try options.int("lifetime_minutes", default: 30)
        guard minutes >= 1 else { throw ConfigurationError("\(options.origin): lifetime_minutes must be at least 1") }
        let loginURL = try options.string("login_url", default: "/login")
        guard LocalURL.isLocal(loginURL) else { throw ConfigurationError("\(options.origin): login_url must be a local path") }
        do {
            return try CookieAuthentication(
                keys: keys, cookieName: options.string("cookie_name", default: "porter_auth"), lifetime: .seconds(minutes * 60),
                sliding: options.bool("sliding", default: true), secure: options.bool("secure", default: true),
                httpOnly: options.bool("http_only", default: true),
                sameSite: SameSiteOption.parse(options.string("same_site", default: "Lax"), origin: options.origin),
                path: options.string("cookie_path", default: "/"), persistent: options.bool("persistent", default: false),
                loginURL: loginURL, clock: clock)
        } catch let error as ConfigurationError {
            throw ConfigurationError("\(options.origin): \(error.message)")
        }
    }

    /// A fresh ticket for `user` at ticket `generation`, signed with the current key, as the cookie to set.
    public func issueCookie(for user: String, generation: Int64 = 0) -> SetCookie {
        let now = clock.nowSeconds
        let ticket = AuthenticationTicket(user: user, issued: now, expires: now + lifetime.components.seconds, generation: generation)
        return cookie(value: encode(ticket), maxAge: persistent ? Int(lifetime.components.seconds) : nil)
    }

    /// The cookie that deletes the login cookie.
    public func clearingCookie() -> SetCookie { cookie(value: "", maxAge: 0) }

    /// The signed cookie value for `ticket`.
    public func encode(_ ticket: AuthenticationTicket) -> String {
        let userPart = Base64URL.encode(Array(ticket.user.utf8))
        let mac = keyRing.sign(Array(Self.message(userPart, ticket).utf8), purpose: Self.signingPurpose)
        return "\(userPart).\(ticket.expires).\(ticket.issued).\(ticket.generation).\(Base64URL.encode(mac))"
    }

    /// Checks a cookie value: the signature against every key (constant time), then the expiry.
    public func validate(_ value: String) -> TicketValidation {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard value.utf8.count <= 4096, parts.count == 5,
              let userBytes = Base64URL.decode(parts[0]), let user = String(validating: userBytes, as: UTF8.self),
              !user.isEmpty, let expires = Int64(parts[1]), let issued = Int64(parts[2]), let generation = Int64(parts[3]),
              let mac = Base64URL.decode(parts[4]), mac.count == 32 else { return .invalid }
        let ticket = AuthenticationTicket(user: user, issued: issued, expires: expires, generation: generation)
        let message = Array(Self.message(parts[0], ticket).utf8)
        guard let keyIndex = keyRing.verify(message, signature: mac, purpose: Self.signingPurpose) else { return .invalid }
        let now = clock.nowSeconds
        // Issued in the future (beyond clock skew) or an expiry the server would never grant: refuse.
        guard issued <= now + 300, expires - issued <= lifetime.components.seconds + 300 else { return .invalid }
        guard expires > now else { return .expired(ticket) }
        return .valid(ticket, keyIndex: keyIndex)
    }

    /// Whether a valid ticket should be re-issued now: sliding renewal past half-life, or signed by an older key.
    public func shouldRenew(_ ticket: AuthenticationTicket, keyIndex: Int) -> Bool {
        if keyIndex != 0 { return true }
        guard sliding else { return false }
        return ticket.expires - clock.nowSeconds < lifetime.components.seconds / 2
    }

    static func message(_ userPart: String, _ ticket: AuthenticationTicket) -> String {
        "porter-auth-v2|\(userPart)|\(ticket.expires)|\(ticket.issued)|\(ticket.generation)"
    }

    func cookie(value: String, maxAge: Int?) -> SetCookie {
        SetCookie(name: cookieName, value: value, path: path, maxAge: maxAge, secure: secure, httpOnly: httpOnly, sameSite: sameSite)
    }
}
