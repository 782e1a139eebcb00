import Foundation
import Porter

/// Cross-site request forgery defence for the forms that change who you are (login, logout), two layers:
///
/// 1. A signed double-submit token: the page that renders the form sets a random `porter_csrf` cookie (HttpOnly,
///    SameSite=Lax) and puts `expires.HMAC(key, purpose|cookie|user|expires)` in a hidden `csrf` field; the POST
///    must carry both, unexpired and matching. Tokens for `logout` are also bound to the signed-in user.
/// 2. The browser's own word: a POST whose `Sec-Fetch-Site` is `cross-site` (or `same-site`, unless its Origin is
///    listed), or whose `Origin` is `null` or names another host than the request's `Host`, is refused.
///
/// The MAC comes from the login cookie's key ring under its own purpose (`porter.csrf`), so rotation follows the
/// cookie keys and a token can never pass for a cookie or an image signature.
public struct CSRFProtection: Sendable {
    /// The hidden form field carrying the token.
    public static let fieldName = "csrf"
    /// The double-submit cookie's name.
    public var cookieName: String
    /// How long a rendered form stays usable.
    public var lifetime: Duration
    /// `Secure` on the double-submit cookie (same setting as the login cookie).
    public var secure: Bool
    /// Origins (`https://example.com`) allowed besides the request's own host.
    public var allowedOrigins: Set<String>
    /// The key-ring purpose of anti-forgery tokens.
    public static let signingPurpose = "porter.csrf"
    let keyRing: KeyRing
    let clock: WallClock

    /// Protection keyed from `authentication`'s key ring (its own purpose; rotation carries over).
    public init(authentication: CookieAuthentication, cookieName: String = "porter_csrf", lifetime: Duration = .seconds(2 * 3600),
                allowedOrigins: Set<String> = []) {
        self.keyRing = authentication.keyRing
        self.cookieName = cookieName
        self.lifetime = lifetime
        self.secure = authentication.secure
        self.allowedOrigins = allowedOrigins
        self.clock = authentication.clock
    }

    /// The token to put in a form for `purpose` (`login`, `logout`), setting the double-submit cookie if needed.
    public func token(for ctx: HTTPContext, purpose: String) -> String {
        let nonce = currentNonce(ctx) ?? {
            let fresh = Base64URL.encode(SecureRandom.bytes(24))
            ctx.response.cookies.append(SetCookie(name: cookieName, value: fresh, path: "/", secure: secure, httpOnly: true, sameSite: .lax))
            return fresh
        }()
        let expires = clock.nowSeconds + lifetime.components.seconds
        let mac = keyRing.sign(message(purpose: purpose, nonce: nonce, user: binding(ctx, purpose), expires: expires), purpose: Self.signingPurpose)
        return "\(expires).\(Base64URL.encode(mac))"
    }

    /// Checks a form POST for `purpose`; throws 403 when the origin is foreign or the token is missing, expired or forged.
    public func check(_ ctx: HTTPContext, purpose: String) throws {
        if let reason = foreignOrigin(ctx.request) {
            ctx.logger.notice("cross-site form post refused", metadata: ["purpose": .string(purpose), "reason": .string(reason)])
            throw HTTPError(.forbidden, message: "Cross-site form posts are not accepted.")
        }
        guard verify(ctx.request.form[Self.fieldName], ctx: ctx, purpose: purpose) else {
            ctx.logger.notice("form post without a valid anti-forgery token refused", metadata: ["purpose": .string(purpose)])
            throw HTTPError(.forbidden, message: "The form has expired or did not come from this site. Reload the page and try again.")
        }
    }

    /// Whether `token` is valid for this request's double-submit cookie and `purpose`.
    func verify(_ token: String?, ctx: HTTPContext, purpose: String) -> Bool {
        guard let token, token.utf8.count <= 256, let nonce = ctx.request.cookies[cookieName], Self.isNonce(nonce) else { return false }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let expires = Int64(parts[0]), let given = Base64URL.decode(String(parts[1])), given.count == 32 else {
            return false
        }
        let now = clock.nowSeconds
        guard expires > now, expires <= now + lifetime.components.seconds + 300 else { return false }
        let signed = message(purpose: purpose, nonce: nonce, user: binding(ctx, purpose), expires: expires)
        return keyRing.verify(signed, signature: given, purpose: Self.signingPurpose) != nil
    }

    /// Why the request's origin is not this site's, or `nil` when it is (or the browser said nothing).
    func foreignOrigin(_ request: HTTPRequest) -> String? {
        Self.foreignOrigin(request, allowedOrigins: allowedOrigins)
    }

    /// Why the request's origin is neither its own host nor one of `allowedOrigins` (`Sec-Fetch-Site` cross-site or
    /// same-site, or an `Origin` for another host), or `nil` when it is (or the browser said nothing).
    static func foreignOrigin(_ request: HTTPRequest, allowedOrigins: Set<String>) -> String? {
        let origin = request.headers["Origin"]?.trimmingSpaces()
        if let origin, allowedOrigins.contains(origin) { return nil }
        switch request.headers["Sec-Fetch-Site"]?.lowercased() {
        case "cross-site": return "Sec-Fetch-Site: cross-site"
        case "same-site": return "Sec-Fetch-Site: same-site"
        default: break
        }
        guard let origin else { return nil }
        guard origin != "null", let theirs = Self.parseOrigin(origin) else { return "Origin: \(origin.prefix(100))" }
        // This site's origin: the scheme nginx served (REQUEST_SCHEME, or HTTPS=on), and the Host the browser sent with
        // its port (PORTER_HOST_HEADER, nginx's $http_host; HTTP_HOST is $host, without the port). Another port or
        // scheme on the same name is another origin (attack pass 31: http://127.0.0.1:9999 and https://127.0.0.1 passed).
        let parameters = request.parameters
        let scheme = parameters["REQUEST_SCHEME"]?.lowercased() ?? (parameters["HTTPS"]?.lowercased() == "on" ? "https" : nil)
        if let scheme, scheme != theirs.scheme { return "Origin \(origin.prefix(100)) is not this scheme" }
        let sentHost = parameters["PORTER_HOST_HEADER"].flatMap { $0.isEmpty ? nil : $0 }
        guard let authority = sentHost ?? request.headers["Host"], let own = HTTPRequest.splitAuthority(authority.trimmingSpaces()), !own.host.isEmpty,
              own.host == theirs.host else {
            return "Origin \(origin.prefix(100)) is not this host"
        }
        // Without the port the browser used (a site file without PORTER_HOST_HEADER), the host alone decides, as before.
        if own.port != nil || sentHost != nil, (own.port ?? Self.defaultPort(scheme ?? theirs.scheme)) != theirs.port {
            return "Origin \(origin.prefix(100)) is not this port"
        }
        return nil
    }

    /// `https://Example.com:8443` → (`https`, `example.com`, 8443); the scheme's port when none is written. `nil` for
    /// anything that is not scheme://host[:port].
    static func parseOrigin(_ origin: String) -> (scheme: String, host: String, port: Int)? {
        guard let schemeEnd = origin.range(of: "://") else { return nil }
        let scheme = origin[..<schemeEnd.lowerBound].lowercased()
        let rest = origin[schemeEnd.upperBound...]
        guard !scheme.isEmpty, !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), let authority = HTTPRequest.splitAuthority(String(rest).trimmingSpaces()),
              !authority.host.isEmpty else { return nil }
        guard let port = authority.port ?? defaultPort(scheme) else { return nil }
        return (scheme, authority.host, port)
    }

    /// 80 for http, 443 for https, `nil` for other schemes.
    static func defaultPort(_ scheme: String) -> Int? {
        switch scheme {
        case "http": 80
        case "https": 443
        default: nil
        }
    }

    /// The nonce from the request's cookie, or one this response already sets.
    private func currentNonce(_ ctx: HTTPContext) -> String? {
        if let set = ctx.response.cookies.last(where: { $0.name == cookieName }), Self.isNonce(set.value) { return set.value }
        if let sent = ctx.request.cookies[cookieName], Self.isNonce(sent) { return sent }
        return nil
    }

    private func binding(_ ctx: HTTPContext, _ purpose: String) -> String {
        purpose == "login" || !ctx.user.isAuthenticated ? "" : ctx.user.name
    }

    private func message(purpose: String, nonce: String, user: String, expires: Int64) -> [UInt8] {
        Array("porter-csrf-v1|\(purpose)|\(nonce)|\(Base64URL.encode(Array(user.utf8)))|\(expires)".utf8)
    }

    static func isNonce(_ value: String) -> Bool { value.utf8.count == 32 && value.utf8.allSatisfy(Base64URL.isAlphabet) }
}
