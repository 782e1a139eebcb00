public import PorterHost
public import ArgumentParser
import Porter

/// Identity, authorization and session state: the `authentication`, `authorization` and `session` modules,
/// the `login`/`logout` handlers and the `users` subcommand.
public struct StateFeature: PorterFeature {
    /// The feature.
    public init() {}

    public var name: String { "state" }

    public func register(_ catalog: inout Catalog) {
        catalog.handlers.register("login", summary: "login form (GET) and signed-cookie login (POST user/password); needs the authentication module") { options, context in
            .instance(.sync(try LoginHandler(options: options, services: context.services)))
        }
        catalog.handlers.register("logout", summary: "clears the login cookie (options: redirect)") { options, context in
            .instance(.sync(try LogoutHandler(options: options, services: context.services)))
        }
        catalog.modules.register("authentication", summary: "identity from nginx REMOTE_USER / a trusted header / a signed login cookie; roles from SQLite or a file") { options, _ in
            try AuthenticationModule(options: options)
        }
        catalog.modules.register("authorization", summary: "allow/deny rules per path for users and roles (* and ?), 401/403") { options, _ in
            try AuthorizationModule(options: options)
        }
        catalog.modules.register("session", summary: "session state in memory, SQLite (default) or PostgreSQL; exclusive/read-only locking") { options, _ in
            try SessionModule(options: options)
        }
    }

    public var commands: [any ParsableCommand.Type] { [UsersCommand.self] }
}
