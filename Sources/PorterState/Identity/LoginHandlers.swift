import Porter

/// The login page (ASP.NET's Forms `loginUrl`): GET shows a small form; POST (form-urlencoded `user`/`password`)
/// checks the password, sets the signed login cookie, regenerates the session id and redirects (303) to
/// `returnUrl` when it is a local path, else to the default. A wrong password shows the form again with a message.
///
/// A sync handler on purpose: the password KDF is CPU work and runs on a Porter worker thread, not on Swift's
/// cooperative pool. Built from configuration, it uses the authentication module's cookie settings and user store.
public struct LoginHandler: HTTPHandler {
    /// The cookie issuer.
    public let authentication: CookieAuthentication
    /// The password store.
    public let users: any UserStore
    /// Where to go after login when `returnUrl` is missing or not local.
    public let defaultReturnURL: String
    /// The largest accepted form body in bytes.
    public let maxBodyBytes: Int

    /// A handler with explicit parts.
    public init(authentication: CookieAuthentication, users: any UserStore, defaultReturnURL: String = "/",
                maxBodyBytes: Int = 16 * 1024) {
        self.authentication = authentication
        self.users = users
        self.defaultReturnURL = defaultReturnURL
        self.maxBodyBytes = maxBodyBytes
    }

    /// Reads `default_return_url` ("/"); cookie settings and users come from the authentication module in
    /// `services` (a startup error names what is missing).
    public init(options: Options, services: ApplicationServices) throws {
        let target = try options.string("default_return_url", default: "/")
        guard LocalURL.isLocal(target) else { throw ConfigurationError("\(options.origin): default_return_url must be a local path") }
        let auth = try services.require(AuthenticationServices.self, by: "\(options.origin): the login handler",
                                        hint: "add [[modules]] name = \"authentication\" before the handlers")
        guard let cookie = auth.cookie, let users = auth.users else {
            throw ConfigurationError("\(options.origin): the login handler needs the authentication module's signed cookie (keys) and users_database")
        }
        self.init(authentication: cookie, users: users, defaultReturnURL: target)
    }

    /// Exclusive: the login regenerates the session id.
    public var sessionState: SessionStateBehavior { .exclusive }

    public func processRequest(_ ctx: HTTPContext) throws {
        let auth = authentication
        switch ctx.request.method {
        case .get, .head:
            let returnURL = Self.returnURL(ctx.request.query["returnUrl"], default: defaultReturnURL)
            Self.renderForm(ctx, returnURL: returnURL, message: nil, status: .ok)
        case .post:
            guard ctx.request.body.count <= maxBodyBytes else { throw HTTPError(.payloadTooLarge) }
            guard ctx.request.contentType?.lowercased().hasPrefix("application/x-www-form-urlencoded") == true else {
                throw HTTPError(.unsupportedMediaType, message: "Send the login form as application/x-www-form-urlencoded.")
            }
            let form = ctx.request.form
            let returnURL = Self.returnURL(form["returnUrl"] ?? ctx.request.query["returnUrl"], default: defaultReturnURL)
            let user = (form["user"] ?? form["username"] ?? "").trimmingSpaces()
            let password = form["password"] ?? ""
            guard !user.isEmpty, user.utf8.count <= 256, password.utf8.count <= 1024,
                  try users.verify(user: user, password: password) else {
                ctx.logger.notice("login failed", metadata: ["user": .string(String(user.prefix(64)))])
                Self.renderForm(ctx, returnURL: returnURL, message: "Invalid user name or password.", status: .ok)
                return
            }
            ctx.logger.info("login", metadata: ["user": .string(user)])
            ctx.response.cookies.append(auth.issueCookie(for: user))
            ctx.regenerateSessionID()
            ctx.user = Principal(name: user, authenticationType: "cookie")
            ctx.response.redirect(to: returnURL, status: .seeOther)
        default:
            throw HTTPError(.methodNotAllowed, headers: ["Allow": "GET, HEAD, POST"])
        }
    }

    /// `candidate` when it is a local path, else `fallback` (refuses open redirects).
    public static func returnURL(_ candidate: String?, default fallback: String) -> String {
        guard let candidate, LocalURL.isLocal(candidate) else { return fallback }
        return candidate
    }

    static func renderForm(_ ctx: HTTPContext, returnURL: String, message: String?, status: HTTPStatus) {
        ctx.response.status = status
        ctx.response.contentType = "text/html; charset=utf-8"
        ctx.response.headers["Cache-Control"] = "no-store"
        let e = HTMLEscaping.escape
        var html = """
            <!doctype html><html><head><meta charset="utf-8"><title>Sign in</title></head><body>
            <h1>Sign in</h1>

            """
        if let message { html += "<p role=\"alert\">\(e(message))</p>\n" }
        html += """
            <form method="post" action="\(e(ctx.request.path))">
            <input type="hidden" name="returnUrl" value="\(e(returnURL))">
            <p><label>User <input name="user" autocomplete="username" required></label></p>
            <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
            <p><button type="submit">Sign in</button></p>
            </form></body></html>

            """
        ctx.response.write(html)
    }
}

/// Signs the user out: clears the login cookie, abandons the session, and redirects (303) to a local `returnUrl`
/// or the configured page.
public struct LogoutHandler: HTTPHandler {
    /// The cookie settings.
    public let authentication: CookieAuthentication
    /// Where to go afterwards when `returnUrl` is missing or not local.
    public let redirectURL: String

    /// A handler with explicit parts.
    public init(authentication: CookieAuthentication, redirectURL: String = "/") {
        self.authentication = authentication
        self.redirectURL = redirectURL
    }

    /// Reads `redirect` ("/"); the cookie settings come from the authentication module in `services`.
    public init(options: Options, services: ApplicationServices) throws {
        let target = try options.string("redirect", default: "/")
        guard LocalURL.isLocal(target) else { throw ConfigurationError("\(options.origin): redirect must be a local path") }
        let auth = try services.require(AuthenticationServices.self, by: "\(options.origin): the logout handler",
                                        hint: "add [[modules]] name = \"authentication\" before the handlers")
        guard let cookie = auth.cookie else {
            throw ConfigurationError("\(options.origin): the logout handler needs the authentication module's signed cookie (keys)")
        }
        self.init(authentication: cookie, redirectURL: target)
    }

    /// Exclusive: the session is abandoned.
    public var sessionState: SessionStateBehavior { .exclusive }

    public func processRequest(_ ctx: HTTPContext) throws {
        guard ctx.request.method == .post || ctx.request.method == .get else {
            throw HTTPError(.methodNotAllowed, headers: ["Allow": "GET, POST"])
        }
        ctx.response.cookies.append(authentication.clearingCookie())
        ctx.session?.abandon()
        if ctx.user.isAuthenticated { ctx.logger.info("logout", metadata: ["user": .string(ctx.user.name)]) }
        ctx.user = .anonymous
        let target = LoginHandler.returnURL(ctx.request.form["returnUrl"] ?? ctx.request.query["returnUrl"], default: redirectURL)
        ctx.response.redirect(to: target, status: .seeOther)
    }
}
