import Porter
import PorterFeeds
import PorterState

/// Registers the feature handlers (feeds, images, identity, operations).
func registerFeatureHandlers(_ catalog: inout HandlerCatalog) {
    catalog.register("feed", summary: "RSS 2.0 (*.rss) / Atom (*.atom) from the SQLite feed store (options: database, limit, cache_control, site_url, format)") { options, _ in
        .instance(.sync(try FeedHandler(options: options)))
    }
    catalog.register("login", summary: "login form (GET) and signed-cookie login (POST user/password); needs the authentication module") { options, _ in
        .instance(.sync(try LoginHandler(options: options)))
    }
    catalog.register("logout", summary: "clears the login cookie (options: redirect)") { options, _ in
        .instance(.sync(try LogoutHandler(options: options)))
    }
    catalog.register("visits", summary: "demo: counts visits per session and shows who you are (exclusive session)") { options, _ in
        .instance(.sync(try VisitsHandler(options: options)))
    }
}

/// Registers the feature modules (identity, authorization, session, trace, metrics).
func registerFeatureModules(_ catalog: inout ModuleCatalog) {
    catalog.register("authentication", summary: "identity from nginx REMOTE_USER / a trusted header / a signed login cookie; roles from SQLite or a file") { options, _ in
        try AuthenticationModule(options: options)
    }
    catalog.register("authorization", summary: "allow/deny rules per path for users and roles (* and ?), 401/403") { options, _ in
        try AuthorizationModule(options: options)
    }
    catalog.register("session", summary: "session state in memory, SQLite (default) or PostgreSQL; exclusive/read-only locking") { options, _ in
        try SessionModule(options: options)
    }
}
