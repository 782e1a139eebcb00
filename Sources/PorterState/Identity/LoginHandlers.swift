import Porter
import PorterHost

/// The login page (ASP.NET's Forms `loginUrl`): GET shows a small form with an anti-forgery token; POST
/// (form-urlencoded `user`/`password`/`csrf`) checks the origin and token (403), the failure backoff (429 +
/// Retry-After), then the password on the KDF executor (503 + Retry-After when its queue is full); on success it sets
/// the signed login cookie at the user's current ticket generation, regenerates the session id and redirects (303)
/// to `returnUrl` when it is a local path, else to the default. A wrong password shows the form again.
///
/// An async handler: the password KDF is slow CPU work, so it runs on the authentication module's `KDFExecutor`
/// (a few threads of its own) while this request holds no FastCGI worker thread and no cooperative-pool thread.
public struct LoginHandler: AsyncHTTPHandler {
    /// The cookie issuer.
    public let authentication: CookieAuthentication
    /// The password store.
    public let users: any UserStore
    /// The users' ticket generations, when kept.
    public let generations: (any TicketGenerations)?
    /// Where the KDF runs.
    public let kdf: KDFExecutor
    /// Failure backoff per user and per client address.
    public let throttle: LoginThrottle
    /// Anti-forgery tokens.
    public let csrf: CSRFProtection
    /// Where to go after login when `returnUrl` is missing or not local.
    public let defaultReturnURL: String
    /// The largest accepted form body in bytes.
    public let maxBodyBytes: Int
    /// The cookie that remembers browsers which signed in (exempt from the user's count over all clients).
    public let device: DeviceCookie

    /// A handler with explicit parts.
    public init(authentication: CookieAuthentication, users: any UserStore, generations: (any TicketGenerations)? = nil,
                kdf: KDFExecutor = KDFExecutor(), throttle: LoginThrottle = LoginThrottle(), csrf: CSRFProtection? = nil,
                defaultReturnURL: String = "/", maxBodyBytes: Int = 16 * 1024) {
        self.authentication = authentication
        self.users = users
        self.generations = generations ?? (users as? any TicketGenerations)
        self.kdf = kdf
        self.throttle = throttle
        self.csrf = csrf ?? CSRFProtection(authentication: authentication)
        self.defaultReturnURL = defaultReturnURL
        self.maxBodyBytes = maxBodyBytes
        device = DeviceCookie(authentication: authentication)
    }

    /// Reads `default_return_url` ("/"), `max_failures` (5 per user from one client), `max_user_failures` (per user from
    /// all clients, 10 × `max_failures`), `max_address_failures` (20 per client address),
    /// `failure_window_seconds` (900), `lockout_seconds` (30, doubling per further failure up to 900); cookie
    /// settings, users, the KDF executor and tokens come from the authentication module in `services`.
    public init(options: Options, services: ApplicationServices) throws {
        let target = try options.string("default_return_url", default: "/")
        guard LocalURL.isLocal(target) else { throw ConfigurationError("\(options.origin): default_return_url must be a local path") }
        let auth = try services.require(AuthenticationServices.self, by: "\(options.origin): the login handler",
                                        hint: "add [[modules]] name = \"authentication\" before the handlers")
        guard let cookie = auth.cookie, let users = auth.users else {
            throw ConfigurationError("\(options.origin): the login handler needs the authentication module's signed cookie (keys) and users_database")
        }
        let perUser = try options.int("max_failures", default: 5)
        let perUserEverywhere = try options.int("max_user_failures", default: perUser * 10)
        let perAddress = try options.int("max_address_failures", default: 20)
        let window = try options.int("failure_window_seconds", default: 900)
        let lockout = try options.int("lockout_seconds", default: 30)
        guard perUser >= 0, perUserEverywhere >= 0, perAddress >= 0, window >= 1, lockout >= 1 else {
            throw ConfigurationError("\(options.origin): max_failures, max_user_failures and max_address_failures must be ≥ 0, failure_window_seconds and lockout_seconds ≥ 1")
        }
        let throttle = LoginThrottle(maxFailures: perUser, maxUserFailures: perUserEverywhere, maxAddressFailures: perAddress, window: .seconds(window),
                                     lockout: .seconds(lockout), maxLockout: .seconds(max(lockout, 900)))
        self.init(authentication: cookie, users: users, generations: auth.generations, kdf: auth.kdf, throttle: throttle,
                  csrf: auth.csrf, defaultReturnURL: target)
    }

    /// The nginx policy of a login route: the `porter_login` request-rate zone (option `rate_limit_zone`, "" for
    /// none; declared in `nginx/porter.conf`) with `rate_limit_burst` (10).
    public static func edge(options: Options) throws -> EdgePolicy {
        // The form is small: the route's body limit (Porter's and nginx's) is the handler's own 16 KiB.
        let zone = try options.string("rate_limit_zone", default: "porter_login")
        guard !zone.isEmpty else { return EdgePolicy(maxBodyBytes: 16 * 1024) }
        return EdgePolicy(maxBodyBytes: 16 * 1024, rateLimit: .init(zone: zone, burst: try options.int("rate_limit_burst", default: 10)))
    }

    /// Exclusive: the login regenerates the session id.
    public var sessionState: SessionStateBehavior { .exclusive }

    public func processRequest(_ ctx: HTTPContext) async throws {
        switch ctx.request.method {
        case .get, .head:
            let returnURL = Self.returnURL(ctx.request.query["returnUrl"], default: defaultReturnURL)
            renderForm(ctx, returnURL: returnURL, message: nil)
        case .post:
            try await post(ctx)
        default:
            throw HTTPError(.methodNotAllowed, headers: ["Allow": "GET, HEAD, POST"])
        }
    }

    func post(_ ctx: HTTPContext) async throws {
        guard ctx.request.body.count <= maxBodyBytes else { throw HTTPError(.payloadTooLarge) }
        guard ctx.request.contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
            throw HTTPError(.unsupportedMediaType, message: "Send the login form as application/x-www-form-urlencoded.")
        }
        try csrf.check(ctx, purpose: "login")
        let form = ctx.request.form
        let returnURL = Self.returnURL(form["returnUrl"] ?? ctx.request.query["returnUrl"], default: defaultReturnURL)
        let user = (form["user"] ?? form["username"] ?? "").trimmingSpaces()
        let password = form["password"] ?? ""
        // No KDF and no throttle count for a name that cannot exist (a NUL, a newline; attack pass 31b).
        guard UserName.isValid(user), password.utf8.count <= 1024 else {
            renderForm(ctx, returnURL: returnURL, message: "Invalid user name or password.")
            return
        }
        let attempt: LoginThrottle.Attempt
        switch throttle.begin(user: user, address: ctx.request.clientKey, trustedDevice: device.vouches(for: user, in: ctx.request)) {
        case .success(let admitted): attempt = admitted
        case .failure(let throttled):
            ctx.logger.notice("login refused: too many failures", metadata: ["user": .string(String(user.prefix(64)))])
            throw HTTPError(.tooManyRequests, message: "Too many failed sign-in attempts. Try again later.",
                            headers: ["Retry-After": String(throttled.retryAfterSeconds)])
        }
        let ok: Bool
        do {
            let users = self.users
            ok = try await kdf.run { try users.verify(user: user, password: password) }
        } catch let busy as KDFBusy {
            throttle.finish(attempt, succeeded: nil)
            ctx.logger.warning("login refused: password hashing queue full", metadata: ["waiting": .stringConvertible(busy.waiting)])
            throw HTTPError(.serviceUnavailable, message: "The server is busy. Try again in a moment.", headers: ["Retry-After": "1"])
        } catch {
            throttle.finish(attempt, succeeded: nil)
            throw error
        }
        throttle.finish(attempt, succeeded: ok)
        guard ok else {
            ctx.logger.notice("login failed", metadata: ["user": .string(String(user.prefix(64)))])
            renderForm(ctx, returnURL: returnURL, message: "Invalid user name or password.")
            return
        }
        let generation = try generations?.generation(of: user) ?? 0
        ctx.logger.info("login", metadata: ["user": .string(user)])
        ctx.response.cookies.append(authentication.issueCookie(for: user, generation: generation))
        ctx.response.cookies.append(device.issue(for: user))
        ctx.regenerateSessionID()
        ctx.user = Principal(name: user, authenticationType: "cookie")
        ctx.response.redirect(to: returnURL, status: .seeOther)
    }

    /// `candidate` when it is a local path, else `fallback` (refuses open redirects); spaces and non-ASCII bytes are
    /// percent-encoded, so the `Location` header carries ASCII only (a raw U+00A0 or U+2028 reached it).
    public static func returnURL(_ candidate: String?, default fallback: String) -> String {
        guard let candidate, LocalURL.isLocal(candidate) else { return fallback }
        guard candidate.utf8.contains(where: { $0 >= 0x80 || $0 == 0x20 }) else { return candidate }
        var out = ""
        for b in candidate.utf8 {
            if b >= 0x80 || b == 0x20 { out += "%" + Hex.encode([b]).uppercased() } else { out.unicodeScalars.append(Unicode.Scalar(b)) }
        }
        return out
    }

    func renderForm(_ ctx: HTTPContext, returnURL: String, message: String?) {
        ctx.response.status = .ok
        ctx.response.contentType = "text/html; charset=utf-8"
        ctx.response.headers["Cache-Control"] = "no-store"
        ctx.response.denyFramingByOtherSites()
        let e = HTMLEscaping.escape
        var html = """
            <!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
            <h1>Sign in</h1>

            """
        if let message { html += "<p role=\"alert\">\(e(message))</p>\n" }
        if ctx.user.isAuthenticated {
            html += "<p>Signed in as <b>\(e(ctx.user.name))</b>.</p>\n" + LogoutForm.html(ctx, csrf: csrf)
        }
        html += """
            <form method="post" action="\(e(ctx.request.path))">
            <input type="hidden" name="\(CSRFProtection.fieldName)" value="\(e(csrf.token(for: ctx, purpose: "login")))">
            <input type="hidden" name="returnUrl" value="\(e(returnURL))">
            <p><label>User <input name="user" autocomplete="username" required></label></p>
            <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
            <p><button type="submit">Sign in</button></p>
            </form></body></html>

            """
        ctx.response.write(html)
    }
}

/// Signs the user out (POST only, with the anti-forgery token of a `LogoutForm`): bumps the user's ticket generation
/// so every ticket issued so far stops working (on every device), clears the login cookie, abandons the session, and
/// redirects (303) to a local `returnUrl` or the configured page.
public struct LogoutHandler: HTTPHandler {
    /// The cookie settings.
    public let authentication: CookieAuthentication
    /// The users' ticket generations, when kept.
    public let generations: (any TicketGenerations)?
    /// Anti-forgery tokens.
    public let csrf: CSRFProtection
    /// Where to go afterwards when `returnUrl` is missing or not local.
    public let redirectURL: String

    /// A handler with explicit parts.
    public init(authentication: CookieAuthentication, generations: (any TicketGenerations)? = nil, csrf: CSRFProtection? = nil,
                redirectURL: String = "/") {
        self.authentication = authentication
        self.generations = generations
        self.csrf = csrf ?? CSRFProtection(authentication: authentication)
        self.redirectURL = redirectURL
    }

    /// Reads `redirect` ("/"); the cookie settings, generations and tokens come from the authentication module in `services`.
    public init(options: Options, services: ApplicationServices) throws {
        let target = try options.string("redirect", default: "/")
        guard LocalURL.isLocal(target) else { throw ConfigurationError("\(options.origin): redirect must be a local path") }
        let auth = try services.require(AuthenticationServices.self, by: "\(options.origin): the logout handler",
                                        hint: "add [[modules]] name = \"authentication\" before the handlers")
        guard let cookie = auth.cookie else {
            throw ConfigurationError("\(options.origin): the logout handler needs the authentication module's signed cookie (keys)")
        }
        self.init(authentication: cookie, generations: auth.generations, csrf: auth.csrf, redirectURL: target)
    }

    /// Exclusive: the session is abandoned.
    public var sessionState: SessionStateBehavior { .exclusive }

    /// The largest form a logout takes (a token and a return URL): it is parsed before the token is checked, and a
    /// 1 MB form per request from one client slowed every route (attack pass 31b).
    public static let maxBodyBytes = 16 * 1024

    /// The nginx policy of a logout route: the same body limit at the edge.
    public static let edge = EdgePolicy(maxBodyBytes: maxBodyBytes)

    public func processRequest(_ ctx: HTTPContext) throws {
        guard ctx.request.method == .post else { throw HTTPError(.methodNotAllowed, headers: ["Allow": "POST"]) }
        guard ctx.request.body.count <= Self.maxBodyBytes else { throw HTTPError(.payloadTooLarge) }
        try csrf.check(ctx, purpose: "logout")
        if ctx.user.isAuthenticated && ctx.user.authenticationType == "cookie" {
            try generations?.bumpGeneration(of: ctx.user.name)
            ctx.logger.info("logout", metadata: ["user": .string(ctx.user.name)])
        }
        ctx.response.cookies.append(authentication.clearingCookie())
        ctx.session?.abandon()
        ctx.user = .anonymous
        let target = LoginHandler.returnURL(ctx.request.form["returnUrl"] ?? ctx.request.query["returnUrl"], default: redirectURL)
        ctx.response.redirect(to: target, status: .seeOther)
    }
}

/// The sign-out button: a POST form to the logout handler carrying its anti-forgery token.
public enum LogoutForm {
    /// The form's HTML for `ctx` (sets the anti-forgery cookie if needed), posting to `action`.
    public static func html(_ ctx: HTTPContext, csrf: CSRFProtection, action: String = "/logout") -> String {
        let e = HTMLEscaping.escape
        return """
            <form method="post" action="\(e(action))">
            <input type="hidden" name="\(CSRFProtection.fieldName)" value="\(e(csrf.token(for: ctx, purpose: "logout")))">
            <button type="submit">Sign out</button>
            </form>

            """
    }

    /// The form when the authentication module's tokens are available and the user is signed in with a cookie, else "".
    public static func htmlIfSignedIn(_ ctx: HTTPContext, action: String = "/logout") -> String {
        guard ctx.user.isAuthenticated, ctx.user.authenticationType == "cookie",
              let csrf = ctx.application.services[AuthenticationServices.self]?.csrf else { return "" }
        return html(ctx, csrf: csrf, action: action)
    }
}
