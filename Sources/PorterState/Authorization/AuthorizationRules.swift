import Porter

/// One `<allow>` or `<deny>` element: it matches a user by name (`*` = everyone, `?` = anonymous) or role,
/// optionally only for some verbs.
public struct AuthorizationRule: Sendable, Equatable {
    /// Allow or deny.
    public enum Action: String, Sendable, Equatable { case allow, deny }

    public var action: Action
    /// User names; `*` matches every user, `?` the anonymous user.
    public var users: [String]
    /// Role names.
    public var roles: [String]
    /// Upper-case verbs the rule applies to; `nil` for all.
    public var verbs: Set<String>?

    /// A rule; at least one of `users` and `roles` should be non-empty.
    public init(_ action: Action, users: [String] = [], roles: [String] = [], verbs: Set<String>? = nil) {
        self.action = action
        self.users = users
        self.roles = roles
        self.verbs = verbs.map { Set($0.map { $0.uppercased() }) }
    }

    /// Whether the rule applies to `user` making a `method` request.
    public func matches(_ user: Principal, method: String) -> Bool {
        if let verbs, !verbs.contains(method.uppercased()) { return false }
        for name in users {
            if name == "*" { return true }
            if name == "?" { if !user.isAuthenticated { return true } else { continue } }
            if user.isAuthenticated && name.caseInsensitiveEquals(user.name) { return true }
        }
        return user.isAuthenticated && roles.contains { user.isInRole($0) }
    }
}

/// The rules for one path prefix (a web.config `<location path>`), in order.
public struct AuthorizationLocation: Sendable, Equatable {
    /// The path prefix, e.g. `/admin` (matches `/admin` and everything under `/admin/`).
    public var path: String
    public var rules: [AuthorizationRule]

    /// A location; a trailing slash on `path` is ignored.
    public init(path: String, rules: [AuthorizationRule]) {
        self.path = AuthorizationPolicy.normalize(path)
        self.rules = rules
    }

    func covers(_ normalizedPath: String) -> Bool {
        if path == "/" { return true }
        let p = normalizedPath.lowercased(), prefix = path.lowercased()
        return p == prefix || p.hasPrefix(prefix + "/")
    }
}

/// What the policy decided.
public enum AuthorizationDecision: Sendable, Equatable {
    case allow
    case deny
}

/// URL authorization rules (ASP.NET's `UrlAuthorizationModule` with `<location>` inheritance): the rules of the
/// most specific location covering the path are checked first, then those of the enclosing locations; the first
/// matching rule wins; when no rule matches, access is allowed (ASP.NET's root `<allow users="*"/>`).
/// Paths are compared case-insensitively (as handler paths are), after collapsing repeated slashes.
public struct AuthorizationPolicy: Sendable, Equatable {
    /// Locations, most specific (longest path) first.
    public let locations: [AuthorizationLocation]

    /// A policy; locations with the same path are merged in the given order.
    public init(_ locations: [AuthorizationLocation]) {
        var merged: [AuthorizationLocation] = []
        for location in locations {
            if let i = merged.firstIndex(where: { $0.path.lowercased() == location.path.lowercased() }) {
                merged[i].rules += location.rules
            } else {
                merged.append(location)
            }
        }
        self.locations = merged.sorted { $0.path.utf8.count > $1.path.utf8.count }
    }

    /// Decides for `user` requesting `path` with `method`.
    public func decide(path: String, method: String, user: Principal) -> AuthorizationDecision {
        let normalized = Self.normalize(path)
        for location in locations where location.covers(normalized) {
            for rule in location.rules where rule.matches(user, method: method) {
                return rule.action == .allow ? .allow : .deny
            }
        }
        return .allow
    }

    /// Reads `rules`: an array of tables, each with `path` and either `action = "allow"|"deny"` plus `users`/`roles`
    /// (and optional `verbs`), or the shorthand keys `allow_users`, `allow_roles`, `deny_users`, `deny_roles`
    /// (expanded allow first, then deny).
    public init(options: Options) throws {
        guard let raw = options.value("rules") else {
            self.init([])
            return
        }
        guard case .array(let items) = raw else {
            throw ConfigurationError("\(options.origin): rules must be an array of tables")
        }
        var locations: [AuthorizationLocation] = []
        for (index, item) in items.enumerated() {
            guard case .table(let table) = item else {
                throw ConfigurationError("\(options.origin): rules[\(index)] must be a table")
            }
            let rule = Options(table, origin: "\(options.origin).rules[\(index)]")
            guard let path = try rule.string("path"), path.hasPrefix("/") else {
                throw ConfigurationError("\(rule.origin): path is required and must start with /")
            }
            let known: Set<String> = ["path", "action", "users", "roles", "verbs", "allow_users", "allow_roles", "deny_users", "deny_roles"]
            if let unknown = table.keys.first(where: { !known.contains($0) }) {
                throw ConfigurationError("\(rule.origin): unknown key \(unknown)")
            }
            let verbs = try rule.values["verbs"] == nil ? nil : Set(rule.strings("verbs", default: []))
            var rules: [AuthorizationRule] = []
            if let action = try rule.string("action") {
                guard let a = AuthorizationRule.Action(rawValue: action.lowercased()) else {
                    throw ConfigurationError("\(rule.origin): action must be allow or deny, got \(action)")
                }
                rules.append(AuthorizationRule(a, users: try rule.strings("users", default: []),
                                               roles: try rule.strings("roles", default: []), verbs: verbs))
            }
            let allowUsers = try rule.strings("allow_users", default: []), allowRoles = try rule.strings("allow_roles", default: [])
            let denyUsers = try rule.strings("deny_users", default: []), denyRoles = try rule.strings("deny_roles", default: [])
            if !allowUsers.isEmpty || !allowRoles.isEmpty {
                rules.append(AuthorizationRule(.allow, users: allowUsers, roles: allowRoles, verbs: verbs))
            }
            if !denyUsers.isEmpty || !denyRoles.isEmpty {
                rules.append(AuthorizationRule(.deny, users: denyUsers, roles: denyRoles, verbs: verbs))
            }
            guard !rules.isEmpty, rules.allSatisfy({ !$0.users.isEmpty || !$0.roles.isEmpty }) else {
                throw ConfigurationError("\(rule.origin): a rule needs users or roles to match")
            }
            locations.append(AuthorizationLocation(path: path, rules: rules))
        }
        self.init(locations)
    }

    /// Collapses repeated slashes and drops a trailing slash (except for `/`).
    static func normalize(_ path: String) -> String {
        var out = ""
        out.reserveCapacity(path.utf8.count)
        var lastSlash = false
        for ch in path {
            if ch == "/" {
                if lastSlash { continue }
                lastSlash = true
            } else {
                lastSlash = false
            }
            out.append(ch)
        }
        if out.count > 1, out.hasSuffix("/") { out.removeLast() }
        return out.isEmpty ? "/" : out
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool { lowercased() == other.lowercased() }
}
