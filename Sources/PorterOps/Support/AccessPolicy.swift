import Porter
import PorterHost

/// Who may see an operations page: local requests (`REMOTE_ADDR` loopback) and/or listed users and roles.
///
/// With `localOnly` (ASP.NET trace's `localOnly`), a request from a loopback address is allowed; any other
/// request is allowed only if its authenticated user is in `allowUsers` or in one of `allowRoles`.
/// Without `localOnly`, everybody is allowed.
public struct AccessPolicy: Sendable, Equatable {
    /// Whether only loopback requests (plus the listed users and roles) are allowed.
    public var localOnly: Bool
    /// Roles that may see the page from anywhere.
    public var allowRoles: Set<String>
    /// User names that may see the page from anywhere.
    public var allowUsers: Set<String>

    /// A policy; the default allows loopback requests only.
    public init(localOnly: Bool = true, allowRoles: Set<String> = [], allowUsers: Set<String> = []) {
        self.localOnly = localOnly
        self.allowRoles = allowRoles
        self.allowUsers = allowUsers
    }

    /// Reads `local_only`, `allow_roles` and `allow_users` from `options`.
    public init(options: Options, localOnlyDefault: Bool) throws(ConfigurationError) {
        self.init(localOnly: try options.bool("local_only", default: localOnlyDefault),
                  allowRoles: Set(try options.strings("allow_roles", default: [])),
                  allowUsers: Set(try options.strings("allow_users", default: [])))
    }

    /// Whether nginx can enforce this policy alone (`allow 127.0.0.1; allow ::1; deny all;`): local-only with no
    /// users or roles admitted from elsewhere (nginx cannot see who is signed in).
    public var isEnforceableByNginx: Bool { localOnly && allowRoles.isEmpty && allowUsers.isEmpty }

    /// The nginx policy for a route to a page guarded by the `local_only`/`allow_*` options (local-only by default).
    public static func edge(_ options: Options) throws -> EdgePolicy {
        EdgePolicy(localOnly: try AccessPolicy(options: options, localOnlyDefault: true).isEnforceableByNginx)
    }

    /// Whether `context` may see the page.
    public func allows(_ context: HTTPContext) -> Bool {
        guard localOnly else { return true }
        if AccessPolicy.isLoopback(context.request.remoteAddress) { return true }
        let user = context.user
        guard user.isAuthenticated else { return false }
        return allowUsers.contains(user.name) || !allowRoles.isDisjoint(with: user.roles)
    }

    /// Throws `403 Forbidden` unless `context` may see the page.
    public func check(_ context: HTTPContext) throws(HTTPError) {
        guard allows(context) else { throw HTTPError(.forbidden) }
    }

    /// Whether `address` is a loopback address: `127.0.0.0/8`, `::1`, or IPv4-mapped `::ffff:127.x.y.z`.
    /// An empty address (no `REMOTE_ADDR`) is not loopback.
    public static func isLoopback(_ address: String) -> Bool {
        var a = Substring(address)
        if a.hasPrefix("[") && a.hasSuffix("]") { a = a.dropFirst().dropLast() }
        if a == "::1" || a == "0:0:0:0:0:0:0:1" { return true }
        if a.lowercased().hasPrefix("::ffff:") { a = a.dropFirst(7) }
        let parts = a.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { p in !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isASCII) && UInt8(p) != nil }
    }
}
