public import PorterHost
public import ArgumentParser
import Logging
import Porter

/// Identity, authorization and session state: the `authentication`, `authorization` and `session` modules,
/// the `login`/`logout` handlers and the `users` subcommand.
public struct StateFeature: PorterFeature {
    /// The feature.
    public init() {}

    public var name: String { "state" }

    public func register(_ catalog: inout Catalog) {
        catalog.handlers.register("login", summary: "login form (GET) and signed-cookie login (POST user/password/csrf), KDF off the worker threads, failure backoff; needs the authentication module",
                                  edge: { options in try LoginHandler.edge(options: options) }) { options, context in
            .instance(.async(try LoginHandler(options: options, services: context.services)))
        }
        catalog.handlers.register("logout", summary: "POST with the anti-forgery token: revokes the user's tickets, clears the login cookie (options: redirect)",
                                  edge: { _ in LogoutHandler.edge }) { options, context in
            .instance(.sync(try LogoutHandler(options: options, services: context.services)))
        }
        catalog.modules.register("authentication", summary: "identity from nginx REMOTE_USER / a trusted header (behind identity_snippet) / a signed login cookie; roles from SQLite or a file",
                                 routeEdge: { options, pattern in try NginxIdentity.routeEdge(options: options, pattern: pattern) }) { options, context in
            let module = try AuthenticationModule(options: options)
            if let cookie = module.cookie, !cookie.secure {
                context.logger.warning("the login cookie is sent without Secure (secure = false): only for a plain-http site such as the local demo",
                                       metadata: ["module": "authentication"])
            }
            return module
        }
        catalog.modules.register("authorization", summary: "allow/deny rules per path for users and roles (* and ?), 401/403") { options, _ in
            try AuthorizationModule(options: options)
        }
        catalog.modules.register("session", summary: "session state in memory, SQLite (default) or PostgreSQL; exclusive/read-only locking") { options, context in
            let module = try SessionModule(options: options, events: SessionEvents.shared(in: context.services),
                                           pools: PostgresPools.shared(in: context.services))
            for service in module.services { context.run(service) }
            if !module.configuration.cookieSecure {
                context.logger.warning("the session cookie is sent without Secure (cookie_secure = false): only for a plain-http site such as the local demo",
                                       metadata: ["module": "session"])
            }
            return module
        }
    }

    public var commands: [any ParsableCommand.Type] { [UsersCommand.self] }
}
