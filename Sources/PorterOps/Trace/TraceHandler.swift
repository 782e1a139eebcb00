import Porter

/// The trace page (ASP.NET's `trace.axd`): recent requests with per-event timings, as HTML or JSON.
///
/// `GET /trace.axd` shows every kept request, newest first, each with a waterfall of its events and module
/// subscribers; `?id=<n>` shows one; `?format=json` returns the same data as JSON. Only local requests may
/// see it unless `allow_roles`/`allow_users` admit the signed-in user (others get 403). Its own requests are
/// not recorded (see `TraceModule`). `?slowest` (or `?slowest=<n>`) shows the n (10) slowest kept requests, slowest first.
///
/// Options: `local_only` (true), `allow_roles`, `allow_users`, `limit` (rows shown; default: all kept).
public struct TraceHandler: HTTPHandler {
    /// The log to show; `nil` uses the one `TraceModule` published as a service.
    public let log: TraceLog?
    /// Who may see the page.
    public let access: AccessPolicy
    /// At most this many requests are shown (`nil`: all kept).
    public let limit: Int?

    /// A trace page showing `log` (or the log `TraceModule` publishes when `nil`).
    public init(log: TraceLog? = nil, access: AccessPolicy = .localOnly(), limit: Int? = nil) {
        self.log = log
        self.access = access
        self.limit = limit
    }

    /// A trace page configured from `porter.toml` options (`local_only`, `allow_roles`, `allow_users`, `limit`).
    public init(options: Options) throws {
        let limit = try options.int("limit", default: 0)
        guard limit >= 0 else { throw ConfigurationError("\(options.origin): limit must not be negative, got \(limit)") }
        self.init(log: nil, access: try AccessPolicy(options: options, localOnlyDefault: true), limit: limit == 0 ? nil : limit)
    }

    public func processRequest(_ context: HTTPContext) throws {
        context.items[TraceModule.Excluded.self] = TraceModule.Excluded()
        try access.check(context)
        guard let log = log ?? context.services[TraceLog.self] else {
            throw HTTPError(.notFound, message: "Tracing is not enabled (no trace module).")
        }
        var snapshots = log.recent()
        if let id = context.request.query["id"] {
            guard let n = Int(id), let one = snapshots.first(where: { $0.sequence == n }) else {
                throw HTTPError(.notFound, message: "No such request in the trace (it may have been overwritten).")
            }
            snapshots = [one]
        } else if let slowest = context.request.query["slowest"] {
            guard let n = slowest.isEmpty ? 10 : Int(slowest), (1...10_000).contains(n) else {
                throw HTTPError(.badRequest, message: "slowest must be a number of requests from 1 to 10000")
            }
            snapshots = Array(snapshots.sorted { $0.totalNanos > $1.totalNanos }.prefix(n))
        } else if let limit, snapshots.count > limit {
            snapshots = Array(snapshots.prefix(limit))
        }
        context.response.headers["Cache-Control"] = "no-store"
        switch context.request.query["format"] {
        case "json":
            try JSONOutput.respond(context, TraceListing(limit: log.limit, recorded: log.totalRecorded, requests: snapshots))
        case nil, "html":
            context.response.status = .ok
            context.response.headers["Content-Type"] = "text/html; charset=utf-8"
            context.response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
            context.response.headers["X-Content-Type-Options"] = "nosniff"
            context.response.write(TracePage.html(snapshots, limit: log.limit, recorded: log.totalRecorded))
        default:
            throw HTTPError(.badRequest, message: "format must be html or json")
        }
    }
}

/// The trace page's JSON form.
public struct TraceListing: Sendable, Codable, Equatable {
    /// How many requests the log keeps.
    public var limit: Int
    /// How many requests were recorded since start.
    public var recorded: Int
    /// The requests shown, newest first.
    public var requests: [RequestSnapshot]
}
