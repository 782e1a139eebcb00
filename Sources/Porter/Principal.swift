/// The requesting user's identity: name, how they were authenticated, and their roles (ASP.NET's `IPrincipal`).
public struct Principal: Sendable, Equatable {
    /// The user name; empty for the anonymous user.
    public var name: String
    /// How the identity was established, e.g. `nginx`, `cookie`; `nil` when anonymous.
    public var authenticationType: String?
    /// The roles the user is in.
    public var roles: Set<String>

    /// An authenticated user.
    public init(name: String, authenticationType: String, roles: Set<String> = []) {
        self.name = name
        self.authenticationType = authenticationType
        self.roles = roles
    }

    private init() {
        name = ""
        authenticationType = nil
        roles = []
    }

    /// The anonymous (unknown) user.
    public static let anonymous = Principal()

    /// Whether the user is known.
    public var isAuthenticated: Bool { authenticationType != nil && !name.isEmpty }

    /// Whether the user has `role`.
    public func isInRole(_ role: String) -> Bool { roles.contains(role) }
}
