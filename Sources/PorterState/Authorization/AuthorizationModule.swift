import Porter

/// Checks the URL authorization rules at AuthorizeRequest (ASP.NET's `UrlAuthorizationModule`).
///
/// Denied anonymous users get 401 (with `WWW-Authenticate` when configured) or, with `loginURL` set, a 302 to
/// the login page with `returnUrl` (ASP.NET Forms behaviour); denied authenticated users get 403.
/// `context.skipAuthorization` and the login page itself bypass the rules.
public struct AuthorizationModule: HTTPModule {
    /// The rules.
    public let policy: AuthorizationPolicy
    /// The `WWW-Authenticate` value sent with 401, e.g. `Basic realm="porter"`.
    public let wwwAuthenticate: String?
    /// Where anonymous users are redirected instead of 401 (a local path), e.g. `/login`.
    public let loginURL: String?

    /// A module with explicit parts.
    public init(policy: AuthorizationPolicy, wwwAuthenticate: String? = nil, loginURL: String? = nil) {
        self.policy = policy
        self.wwwAuthenticate = wwwAuthenticate
        self.loginURL = loginURL
    }

    /// Reads `rules` (see `AuthorizationPolicy(options:)`), `www_authenticate`, `login_url`.
    public init(options: Options) throws {
        let login = try options.string("login_url")
        if let login, !LocalURL.isLocal(login) { throw ConfigurationError("\(options.origin): login_url must be a local path") }
        self.init(policy: try AuthorizationPolicy(options: options), wwwAuthenticate: try options.string("www_authenticate"),
                  loginURL: login)
    }

    public var name: String { "authorization" }

    public func subscribe(to events: inout ModuleEvents) {
        events.on(.authorizeRequest) { ctx in try self.authorize(ctx) }
    }

    func authorize(_ ctx: HTTPContext) throws {
        // nginx's auth_request for a static file under the rules (PORTER_AUTHORIZE_ONLY, set only by the generated
        // location, never by a client): answer 204 / 401 (+ X-Porter-Login) / 403 and stop after this event.
        if ctx.request.parameters.contains("PORTER_AUTHORIZE_ONLY") {
            // The subrequest's own path is the check location; the file asked for is the client's REQUEST_URI,
            // decoded and with dot segments resolved (`decide` normalises), as nginx does before serving it.
            let raw = ctx.request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let denied = policy.decide(path: PercentEncoding.decode(String(raw)), method: ctx.request.method.rawValue, user: ctx.user,
                                       isLocal: ctx.request.isLocal) == .deny
            ctx.trace("static file check: \(denied ? "denied" : "allowed")", category: "authorization")
            if !denied {
                ctx.response.status = .noContent
            } else if ctx.user.isAuthenticated {
                ctx.response.status = .forbidden
            } else {
                ctx.response.status = .unauthorized
                if let loginURL {
                    let separator = loginURL.contains("?") ? "&" : "?"
                    ctx.response.headers["X-Porter-Login"] = loginURL + separator + "returnUrl=" + PercentEncoding.encode(ctx.request.uri)
                } else if let wwwAuthenticate {
                    ctx.response.headers["WWW-Authenticate"] = wwwAuthenticate
                }
            }
            ctx.completeRequest()
            return
        }
        guard !ctx.skipAuthorization else { return }
        if let loginURL, AuthorizationPolicy.normalize(ctx.request.path)
            .equalsIgnoringASCIICase(AuthorizationPolicy.normalize(String(loginURL.split(separator: "?", maxSplits: 1).first ?? ""))) {
            return
        }
        guard policy.decide(path: ctx.request.path, method: ctx.request.method.rawValue, user: ctx.user,
                            isLocal: ctx.request.isLocal) == .deny else { return }
        ctx.trace("access denied to \(ctx.user.isAuthenticated ? ctx.user.name : "anonymous")", category: "authorization")
        if ctx.user.isAuthenticated {
            throw HTTPError(.forbidden)
        }
        if let loginURL {
            let separator = loginURL.contains("?") ? "&" : "?"
            ctx.response.redirect(to: loginURL + separator + "returnUrl=" + PercentEncoding.encode(ctx.request.uri))
            ctx.completeRequest()
            return
        }
        throw HTTPError(.unauthorized, headers: wwwAuthenticate.map { ["WWW-Authenticate": $0] } ?? [:])
    }
}
