import Porter
import PorterFeeds
import PorterImages
import PorterOps
import PorterState

/// Registers the feature handlers (feeds, images, identity, operations).
func registerFeatureHandlers(_ catalog: inout HandlerCatalog) {
    catalog.register("feed", summary: "RSS 2.0 (*.rss) / Atom (*.atom) from the SQLite feed store (options: database, limit, cache_control, site_url, format)") { options, _ in
        .instance(.sync(try FeedHandler(options: options)))
    }
    catalog.register("image", summary: "resizes images with libvips: ?w=&h=&fit=&fmt=&q=&dpr= (options: root, signing_key, max_source_pixels, …)") { options, _ in
        .instance(.async(try ImageHandler(options: options)))
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
    catalog.register("trace", summary: "trace.axd: recent requests with every event's timing as a waterfall (options: local_only, allow_roles)") { options, _ in
        .instance(.sync(try TraceHandler(options: options)))
    }
    catalog.register("status", summary: "PHP-FPM-style status: text, ?json, ?format=prometheus (options: local_only, allow_roles)") { options, _ in
        .instance(.async(try StatusHandler(options: options)))
    }
    catalog.register("metrics", summary: "Prometheus exposition of the status counters and request durations") { options, _ in
        .instance(.async(try MetricsHandler(options: options)))
    }
    catalog.register("ping", summary: "answers pong (PHP-FPM's ping.path)") { options, _ in
        .instance(.sync(try PingHandler(options: options)))
    }
    catalog.register("work-status", summary: "GET /work/<id>: a background work item's status as JSON") { options, _ in
        .instance(.sync(try WorkStatusHandler(options: options)))
    }
    catalog.register("report", summary: "demo: answers 202 + Location at once and builds a report in the background") { options, _ in
        .instance(.sync(try ReportHandler(options: options)))
    }
}

/// Registers the feature modules (identity, authorization, session, trace, metrics, background work).
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
    catalog.register("trace", summary: "records the last N requests with per-event and per-module timings for the trace page") { options, _ in
        try TraceModule(options: options)
    }
    catalog.register("metrics", summary: "request counters and duration histograms for the status and metrics pages") { options, _ in
        try MetricsModule(options: options)
    }
    catalog.register("work", summary: "background work queue (SQLite-backed; drained at shutdown, unfinished items recorded as interrupted)") { options, _ in
        try BackgroundWorkModule(options: options)
    }
}
