/// What access rules decided.
public enum AccessDecision: Sendable, Equatable {
    /// Access is granted.
    case allow
    /// Access is refused.
    case deny
}

/// Who may see something: an ordered list of `AccessRule`s; the first matching rule decides, and when no rule
/// matches, access is allowed (ASP.NET's root `<allow users="*"/>`). URL authorization (per location) and the
/// operations pages (`local_only`, `allow_users`, `allow_roles`) both decide with it.
public struct AccessPolicy: Sendable, Equatable {
    /// The rules, in order.
    public var rules: [AccessRule]

    /// A policy of `rules`.
    public init(_ rules: [AccessRule] = []) {
        self.rules = rules
    }

    /// Everybody is allowed.
    public static let everyone = AccessPolicy()

    /// Local requests are allowed, and from anywhere the listed users and members of the listed roles.
    public static func localOnly(allowUsers: [String] = [], allowRoles: [String] = []) -> AccessPolicy {
        var rules = [AccessRule(.allow, users: ["*"], localOnly: true)]
        if !allowUsers.isEmpty || !allowRoles.isEmpty { rules.append(AccessRule(.allow, users: allowUsers, roles: allowRoles)) }
        rules.append(AccessRule(.deny, users: ["*"]))
        return AccessPolicy(rules)
    }

    /// Reads a page's `local_only` (default `localOnlyDefault`), `allow_users` and `allow_roles`: with
    /// `local_only`, `localOnly(allowUsers:allowRoles:)`; without it, everyone.
    public init(options: Options, localOnlyDefault: Bool) throws(ConfigurationError) {
        let users = try options.strings("allow_users", default: []), roles = try options.strings("allow_roles", default: [])
        self = try options.bool("local_only", default: localOnlyDefault) ? .localOnly(allowUsers: users, allowRoles: roles) : .everyone
    }

    /// The first matching rule's decision, or `nil` when no rule matches.
    public func decision(for user: Principal, method: String, isLocal: Bool) -> AccessDecision? {
        for rule in rules where rule.matches(user, method: method, isLocal: isLocal) {
            return rule.action == .allow ? .allow : .deny
        }
        return nil
    }

    /// Whether `context`'s user may proceed (no matching rule: allowed).
    public func allows(_ context: HTTPContext) -> Bool {
        decision(for: context.user, method: context.request.method.rawValue, isLocal: context.request.isLocal) != .deny
    }

    /// Throws `403 Forbidden` unless `context`'s user may proceed.
    public func check(_ context: HTTPContext) throws(HTTPError) {
        guard allows(context) else { throw HTTPError(.forbidden) }
    }
}

extension HTTPRequest {
    /// Whether the client is on this machine and asked for it by a loopback name: `REMOTE_ADDR` is a loopback address
    /// (ASP.NET's `IsLocal`) and `Host`, when sent, is `localhost` or a loopback address (any port). The `Host` half
    /// stops DNS rebinding: a page whose name its owner re-points at 127.0.0.1 is fetched by a browser on this machine,
    /// from a loopback address, with that page's name as `Host` (the demo's trace page answered such requests).
    public var isLocal: Bool { HTTPRequest.isLoopback(remoteAddress) && HTTPRequest.isLoopbackHost(headers["Host"]) }

    /// The client a per-client limit counts (new sessions, login failures): the IPv4 address as it is, an IPv6 address
    /// by its /64 network (one host is given a whole /64, so counting each address let one host be millions of clients).
    public var clientKey: String { HTTPRequest.clientKey(remoteAddress) }

    /// `address` as a per-client limit counts it (`IPAddress.clientKey`): IPv4 and IPv4-mapped IPv6 as dotted IPv4, IPv6
    /// as its /64 (`2001:db8:0:1::1` → `20010db800000001/64`); anything unparsable unchanged.
    public static func clientKey(_ address: String) -> String {
        IPAddress(address)?.clientKey ?? address
    }

    /// Whether a `Host` value names this machine by loopback: `localhost`, `127.x.y.z` or `[::1]`, with or without a
    /// port. No `Host` at all (HTTP/1.0, a FastCGI client) counts: no browser sends such a request.
    public static func isLoopbackHost(_ host: String?) -> Bool {
        guard let host, !host.isEmpty else { return true }
        guard let name = splitAuthority(host)?.host else { return false }
        return name == "localhost" || name == "localhost." || isLoopback(name)
    }

    /// A `Host` value or an origin's authority split into its host, lower-cased, and its port: `Example.com:8080` →
    /// (`example.com`, 8080), `[::1]` → (`[::1]`, nil). `nil` for an unclosed `[` or a port that is not 1-65535.
    public static func splitAuthority(_ text: String) -> (host: String, port: Int?)? {
        let lower = text.lowercased()
        var host = Substring(lower)
        var port: Substring?
        if lower.hasPrefix("[") {
            guard let close = lower.firstIndex(of: "]") else { return nil }
            host = lower[...close]
            let after = lower[lower.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return nil }
                port = after.dropFirst()
            }
        } else if let colon = lower.lastIndex(of: ":") {
            host = lower[..<colon]
            port = lower[lower.index(after: colon)...]
        }
        guard let port else { return (String(host), nil) }
        guard !port.isEmpty, port.utf8.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let number = Int(port),
              (1...65535).contains(number) else { return nil }
        return (String(host), number)
    }

    /// Whether `address` is a loopback address (`IPAddress.isLoopback`): `127.0.0.0/8`, `::1` in any spelling, or
    /// IPv4-mapped `::ffff:127.x.y.z`. An empty or unparsable address (no `REMOTE_ADDR`, a name) is not loopback.
    public static func isLoopback(_ address: String) -> Bool {
        IPAddress(address)?.isLoopback ?? false
    }
}
