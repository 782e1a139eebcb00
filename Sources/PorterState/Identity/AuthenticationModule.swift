import Logging
import Porter

/// Establishes who the user is (AuthenticateRequest) and their roles (PostAuthenticateRequest), like ASP.NET's
/// Forms/Windows authentication modules plus the RoleManager.
///
/// Identity sources, first match wins:
/// 1. nginx's `REMOTE_USER` FastCGI parameter, only when `trustRemoteUser` is on;
/// 2. a trusted FastCGI parameter (`trustedParameter`, e.g. `AUTH_USER` set by `auth_request_set`), only when configured;
/// 3. a trusted request header (`trustedHeader`), only when configured — nginx must overwrite it on every request;
/// 4. the signed login cookie (`CookieAuthentication`), while its ticket generation is the user's current one
///    (`TicketGenerations`). A tampered, malformed, expired or revoked cookie is rejected, cleared with an expired
///    `Set-Cookie`, and logged at debug level.
/// Sources 1–3 count only on requests whose nginx location ran the identity snippet (`NginxIdentity`): nginx fills
/// `$remote_user` from any Basic header and passes client headers, so elsewhere they prove nothing.
/// Otherwise the user stays anonymous. Sync subscribers only: this module never makes a request async.
public struct AuthenticationModule: HTTPModule {
    /// The signed-cookie login, or `nil` when off.
    public let cookie: CookieAuthentication?
    /// Whether `REMOTE_USER` is trusted (on requests the identity snippet vouches for).
    public let trustRemoteUser: Bool
    /// A FastCGI parameter holding the user name set by nginx, if any.
    public let trustedParameter: String?
    /// A request header holding the user name set by nginx, if any.
    public let trustedHeader: String?
    /// The nginx snippet that makes 1–3 trustworthy, when they are configured from options.
    public let identity: NginxIdentity?
    /// Where roles come from (all are asked; the union is used).
    public let roleSources: [any RoleSource]
    /// Checks passwords for the login handler.
    public let users: (any UserStore)?
    /// Ticket generations (revocation); `nil` honours every authentic, unexpired ticket.
    public let generations: (any TicketGenerations)?
    /// Where password hashing runs (off the FastCGI worker threads).
    public let kdf: KDFExecutor
    /// Anti-forgery tokens for the login and logout forms, when the cookie login is on.
    public let csrf: CSRFProtection?

    /// A module with explicit parts; `generations` defaults to `users` when it keeps generations.
    public init(cookie: CookieAuthentication? = nil, trustRemoteUser: Bool = false, trustedParameter: String? = nil,
                trustedHeader: String? = nil, identity: NginxIdentity? = nil, roleSources: [any RoleSource] = [],
                users: (any UserStore)? = nil, generations: (any TicketGenerations)? = nil, kdf: KDFExecutor? = nil,
                csrf: CSRFProtection? = nil) {
        self.cookie = cookie
        self.trustRemoteUser = trustRemoteUser
        self.trustedParameter = trustedParameter
        self.trustedHeader = trustedHeader
        self.identity = identity
        self.roleSources = roleSources
        self.users = users
        self.generations = generations ?? (users as? any TicketGenerations)
        self.kdf = kdf ?? KDFExecutor()
        self.csrf = csrf ?? cookie.map { CSRFProtection(authentication: $0) }
    }

    /// A module from options: the cookie keys of `CookieAuthentication.fromOptions`, plus `trust_remote_user`
    /// (false), `trusted_param`, `trusted_header` (each needs `identity_snippet`, and `identity_paths` narrows where
    /// nginx includes it: see `NginxIdentity`), `users_database` (an SQLite file: users, roles, ticket generations),
    /// `roles_file` (a group file), `kdf_iterations` (600000, min 210000) for new password hashes, `kdf_threads` (2)
    /// and `kdf_queue` (64) for the password-hashing executor, `allowed_origins` (origins besides the request's host
    /// whose login/logout posts are accepted, and whose POST/PUT/PATCH/DELETE requests the login cookie signs in: from
    /// any other origin such a request is anonymous).
    public init(options: Options) throws {
        var sources: [any RoleSource] = []
        var users: (any UserStore)?
        if let path = try options.string("users_database") {
            let iterations = try options.int("kdf_iterations", default: 600_000)
            do {
                let store = try SQLiteUserStore(path: path, hasher: PasswordHasher(algorithm: .pbkdf2SHA256(iterations: iterations)))
                sources.append(store)
                users = store
            } catch let error as PasswordHashError {
                throw ConfigurationError("\(options.origin): kdf_iterations: \(error)")
            } catch {
                throw ConfigurationError("\(options.origin): cannot open users_database \(path): \(error)")
            }
        }
        if let path = try options.string("roles_file") { sources.append(try RolesFile(path: path)) }
        let parameter = try options.string("trusted_param")
        let header = try options.string("trusted_header")
        if let parameter, parameter.hasPrefix("HTTP_") {
            throw ConfigurationError("\(options.origin): trusted_param \(parameter) is a client header (HTTP_*); use trusted_header and have nginx overwrite it")
        }
        let identity = try NginxIdentity.fromOptions(options)
        let threads = try options.int("kdf_threads", default: 2)
        let queue = try options.int("kdf_queue", default: 64)
        guard KDFExecutor.threadRange.contains(threads), KDFExecutor.queueRange.contains(queue) else {
            throw ConfigurationError("\(options.origin): kdf_threads must be 1...64 and kdf_queue 0...65536")
        }
        let kdf = KDFExecutor(threads: threads, queueLimit: queue)
        let cookie = try CookieAuthentication.fromOptions(options)
        let origins = try options.strings("allowed_origins", default: [])
        self.init(cookie: cookie,
                  trustRemoteUser: try options.bool("trust_remote_user", default: false),
                  trustedParameter: parameter?.isEmpty == true ? nil : parameter,
                  trustedHeader: header?.isEmpty == true ? nil : header,
                  identity: identity, roleSources: sources, users: users, kdf: kdf,
                  csrf: cookie.map { CSRFProtection(authentication: $0, allowedOrigins: Set(origins)) })
    }

    public var name: String { "authentication" }

    public func subscribe(to events: inout ModuleEvents) {
        events.on(.authenticateRequest) { ctx in self.authenticate(ctx) }
        events.on(.postAuthenticateRequest) { ctx in try self.attachRoles(ctx) }
    }

    /// AuthenticateRequest: sets `ctx.user` from the first trusted source.
    func authenticate(_ ctx: HTTPContext) {
        let params = ctx.request.parameters
        if NginxIdentity.isVouchedFor(params) {
            if trustRemoteUser, let user = params["REMOTE_USER"], let name = Self.cleanName(user) {
                ctx.user = Principal(name: name, authenticationType: "nginx")
                return
            }
            if let trustedParameter, let user = params[trustedParameter], let name = Self.cleanName(user) {
                ctx.user = Principal(name: name, authenticationType: "nginx")
                return
            }
            if let trustedHeader, let user = ctx.request.headers[trustedHeader], let name = Self.cleanName(user) {
                ctx.user = Principal(name: name, authenticationType: "header")
                return
            }
        }
        guard let cookie, let value = ctx.request.cookies[cookie.cookieName], !value.isEmpty else { return }
        // A browser's cross-site request that changes something does not carry the user (SameSite=Lax leaves gaps: a
        // sibling subdomain, older browsers): the login cookie is ambient, so it only speaks for requests from this
        // site. Links from elsewhere (GET) still arrive signed in; clients that send no Origin/Sec-Fetch-Site too.
        if !ctx.request.method.isSafe,
           let reason = CSRFProtection.foreignOrigin(ctx.request, allowedOrigins: csrf?.allowedOrigins ?? []) {
            ctx.logger.notice("login cookie ignored on a cross-site request", metadata: [
                "method": .string(ctx.request.method.rawValue), "reason": .string(reason),
            ])
            return
        }
        switch cookie.validate(value) {
        case .valid(let ticket, let keyIndex):
            if let generations {
                let current: Int64?
                do { current = try generations.generation(of: ticket.user) } catch {
                    ctx.logger.error("cannot read the user's ticket generation; treating the request as anonymous",
                                     metadata: ["error": .string("\(error)")])
                    return
                }
                guard current == ticket.generation else {
                    ctx.logger.debug("revoked login cookie rejected", metadata: ["user": .string(ticket.user)])
                    ctx.response.cookies.append(cookie.clearingCookie())
                    return
                }
            }
            ctx.user = Principal(name: ticket.user, authenticationType: "cookie")
            if cookie.shouldRenew(ticket, keyIndex: keyIndex) {
                ctx.response.cookies.append(cookie.issueCookie(for: ticket.user, generation: ticket.generation))
            }
        case .expired(let ticket):
            ctx.logger.debug("expired login cookie rejected", metadata: ["user": .string(ticket.user)])
            ctx.response.cookies.append(cookie.clearingCookie())
        case .invalid:
            ctx.logger.debug("tampered or unreadable login cookie rejected")
            ctx.response.cookies.append(cookie.clearingCookie())
        }
    }

    /// PostAuthenticateRequest: adds the roles from every source.
    func attachRoles(_ ctx: HTTPContext) throws {
        guard ctx.user.isAuthenticated, !roleSources.isEmpty else { return }
        var roles = ctx.user.roles
        for source in roleSources { roles.formUnion(try source.roles(for: ctx.user.name)) }
        ctx.user.roles = roles
    }

    /// Registers this module's cookie issuer, user store, generations, KDF executor and anti-forgery tokens for the
    /// login and logout handlers.
    public func publish(in services: ApplicationServices) {
        services.register(AuthenticationServices(cookie: cookie, users: users, generations: generations, kdf: kdf, csrf: csrf))
        services.register(kdf.statistics)
    }

    /// Stops the password-hashing threads.
    public func shutdown() async { kdf.shutdown() }

    /// A user name as given by nginx: trimmed, then a valid `UserName`.
    static func cleanName(_ raw: String) -> String? {
        let name = raw.trimmingSpaces()
        return UserName.isValid(name) ? name : nil
    }
}

/// What the authentication module offers other parts (the login and logout handlers): its signed-cookie
/// issuer and its user store, found by type in `ApplicationServices`.
public struct AuthenticationServices: Sendable {
    /// The signed login cookie, when keys are configured.
    public let cookie: CookieAuthentication?
    /// The password store, when `users_database` is configured.
    public let users: (any UserStore)?
    /// Ticket generations (revocation at logout and password change), when the store keeps them.
    public let generations: (any TicketGenerations)?
    /// The executor password hashing runs on.
    public let kdf: KDFExecutor
    /// Anti-forgery tokens for the login and logout forms, when the cookie login is on.
    public let csrf: CSRFProtection?
}
