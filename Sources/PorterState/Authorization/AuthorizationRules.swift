import Porter

/// The rules for one path prefix (a web.config `<location path>`), in order.
public struct AuthorizationLocation: Sendable, Equatable {
    /// The path prefix, e.g. `/admin` (matches `/admin` and everything under `/admin/`).
    public var path: String
    /// The location's rules, in order.
    public var rules: [AccessRule]

    /// A location; a trailing slash on `path` is ignored.
    public init(path: String, rules: [AccessRule]) {
        self.path = AuthorizationPolicy.normalize(path)
        self.rules = rules
    }

    /// Whether the location applies to `normalizedPath`: ASCII case ignored, compared as bytes (`PathBytes`).
    func covers(_ normalizedPath: String) -> Bool {
        if path == "/" { return true }
        return normalizedPath.equalsIgnoringASCIICase(path) || PathBytes.hasPrefixIgnoringASCIICase(normalizedPath, path + "/")
    }
}

/// URL authorization rules (ASP.NET's `UrlAuthorizationModule` with `<location>` inheritance): the rules of the
/// most specific location covering the path are checked first, then those of the enclosing locations; the first
/// matching rule wins; when no rule matches, access is allowed (ASP.NET's root `<allow users="*"/>`).
/// Paths are compared as bytes with ASCII case ignored, after collapsing repeated slashes and resolving dot segments
/// at every `/` byte, as nginx does (see `PathBytes`: a `String` would not split `/` followed by a combining mark).
public struct AuthorizationPolicy: Sendable, Equatable {
    /// Locations, most specific (longest path) first.
    public let locations: [AuthorizationLocation]

    /// A policy; locations with the same path are merged in the given order.
    public init(_ locations: [AuthorizationLocation]) {
        var merged: [AuthorizationLocation] = []
        for location in locations {
            if let i = merged.firstIndex(where: { $0.path.equalsIgnoringASCIICase(location.path) }) {
                merged[i].rules += location.rules
            } else {
                merged.append(location)
            }
        }
        self.locations = merged.sorted { $0.path.utf8.count > $1.path.utf8.count }
    }

    /// Decides for `user` requesting `path` with `method`, from a loopback address if `isLocal`.
    public func decide(path: String, method: String, user: Principal, isLocal: Bool = false) -> AccessDecision {
        let normalized = Self.normalize(path)
        for location in locations where location.covers(normalized) {
            if let decision = AccessPolicy(location.rules).decision(for: user, method: method, isLocal: isLocal) {
                return decision
            }
        }
        return .allow
    }

    /// Reads `rules`: an array of tables, each with `path` and the rule keys of `AccessRule.rules(from:)`
    /// (`action` + `users`/`roles`, or `allow_users`, `allow_roles`, `deny_users`, `deny_roles`; `verbs`, `local_only`).
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
            if let unknown = table.keys.first(where: { $0 != "path" && !AccessRule.optionKeys.contains($0) }) {
                throw ConfigurationError("\(rule.origin): unknown key \(unknown)")
            }
            let rules = try AccessRule.rules(from: rule)
            locations.append(AuthorizationLocation(path: path, rules: rules))
        }
        self.init(locations)
    }

    /// Collapses repeated slashes, resolves `.` and `..` segments (as nginx does before choosing a location)
    /// and drops a trailing slash (except for `/`), on bytes (`PathBytes.normalize`).
    static func normalize(_ path: String) -> String { PathBytes.normalize(path) }
}
