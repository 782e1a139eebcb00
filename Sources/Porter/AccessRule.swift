/// One `<allow>` or `<deny>` rule: it matches users by name (`*` = everyone, `?` = anonymous) or role,
/// optionally only for some verbs and only for local requests.
public struct AccessRule: Sendable, Equatable {
    /// Allow or deny.
    public enum Action: String, Sendable, Equatable {
        /// Grants access.
        case allow
        /// Refuses access.
        case deny
    }

    /// What the rule decides when it matches.
    public var action: Action
    /// User names (compared case-insensitively); `*` matches every user, `?` the anonymous user.
    public var users: [String]
    /// Role names.
    public var roles: [String]
    /// Upper-case verbs the rule applies to; `nil` for all.
    public var verbs: Set<String>?
    /// Whether the rule applies only to requests from a loopback address (ASP.NET trace's `localOnly`).
    public var localOnly: Bool

    /// A rule; at least one of `users` and `roles` should be non-empty.
    public init(_ action: Action, users: [String] = [], roles: [String] = [], verbs: Set<String>? = nil,
                localOnly: Bool = false) {
        self.action = action
        self.users = users
        self.roles = roles
        self.verbs = verbs.map { Set($0.map { $0.uppercased() }) }
        self.localOnly = localOnly
    }

    /// Whether the rule applies to `user` making a `method` request, from a loopback address if `isLocal`.
    public func matches(_ user: Principal, method: String, isLocal: Bool) -> Bool {
        if localOnly && !isLocal { return false }
        if let verbs, !verbs.contains(method.uppercased()) { return false }
        for name in users {
            if name == "*" { return true }
            if name == "?" { if !user.isAuthenticated { return true } else { continue } }
            if user.isAuthenticated && name.lowercased() == user.name.lowercased() { return true }
        }
        return user.isAuthenticated && roles.contains { user.isInRole($0) }
    }

    /// The option keys `rules(from:)` reads.
    public static let optionKeys: Set<String> = [
        "action", "users", "roles", "verbs", "local_only", "allow_users", "allow_roles", "deny_users", "deny_roles",
    ]

    /// The rules one option table writes: `action = "allow"|"deny"` with `users`/`roles`, and/or the shorthand
    /// `allow_users`, `allow_roles`, `deny_users`, `deny_roles` (expanded allow first, then deny); `verbs` and
    /// `local_only` apply to all of them. Throws when the table matches nobody.
    public static func rules(from table: Options) throws(ConfigurationError) -> [AccessRule] {
        let verbs = try table.values["verbs"] == nil ? nil : Set(table.strings("verbs", default: []))
        let localOnly = try table.bool("local_only", default: false)
        var rules: [AccessRule] = []
        if let action = try table.string("action") {
            guard let a = Action(rawValue: action.lowercased()) else {
                throw ConfigurationError("\(table.origin): action must be allow or deny, got \(action)")
            }
            rules.append(AccessRule(a, users: try table.strings("users", default: []),
                                    roles: try table.strings("roles", default: []), verbs: verbs, localOnly: localOnly))
        }
        for action in [Action.allow, .deny] {
            let users = try table.strings("\(action.rawValue)_users", default: [])
            let roles = try table.strings("\(action.rawValue)_roles", default: [])
            if !users.isEmpty || !roles.isEmpty {
                rules.append(AccessRule(action, users: users, roles: roles, verbs: verbs, localOnly: localOnly))
            }
        }
        guard !rules.isEmpty, rules.allSatisfy({ !$0.users.isEmpty || !$0.roles.isEmpty }) else {
            throw ConfigurationError("\(table.origin): a rule needs users or roles to match")
        }
        return rules
    }
}
