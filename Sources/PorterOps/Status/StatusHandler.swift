import Porter
public import Prometheus

/// The status page (PHP-FPM's `pm.status_path`): request counters, threads, connections and processes.
///
/// PHP-FPM's fields under PHP-FPM's names (`accepted conn`, `active processes`, …; `?full` adds one block per
/// worker process), summed over every worker through the scoreboard, then Porter's own (threads, handlers).
/// Plain `key: value` text by default, JSON with `?json` or `?format=json`, the Prometheus exposition format
/// with `?format=prometheus` (or `?openmetrics`). Numbers come from `RequestStatistics` (fed by `MetricsModule`)
/// overlaid with every `ServerStatusSource` registered in `ApplicationState` (the transport's) and `sources`.
///
/// Options: `local_only` (true: loopback only, enforced by nginx too), `allow_roles`, `allow_users`, `pool` (a name shown as `pool`),
/// `metric_prefix` (`porter`).
public struct StatusHandler: AsyncHTTPHandler {
    /// The output formats.
    public enum Format: Sendable, Equatable {
        case text, json, prometheus
    }

    /// The statistics to show; `nil` uses the ones `MetricsModule` published.
    public let statistics: RequestStatistics?
    /// Extra sources overlaid after the published ones.
    public let sources: [any ServerStatusSource]
    /// Who may see the page.
    public let access: AccessPolicy
    /// The pool name shown (PHP-FPM's `pool`); `nil` shows a source's, else `defaultPool`.
    public let pool: String?
    /// The pool name when neither the `pool` option nor a source names one: PHP-FPM's default pool, `www`.
    public static let defaultPool = "www"
    /// The Prometheus metric-name prefix.
    public let metricPrefix: String
    /// The format used when the query does not choose one.
    public let defaultFormat: Format
    /// What was recorded through swift-metrics, appended to the Prometheus format (`PorterMetrics.registry`).
    public let registry: PrometheusCollectorRegistry?

    /// A status page over `statistics` and `sources` (and `registry` in the Prometheus format).
    public init(statistics: RequestStatistics? = nil, sources: [any ServerStatusSource] = [],
                access: AccessPolicy = .localOnly(), pool: String? = nil,
                metricPrefix: String = "porter", defaultFormat: Format = .text,
                registry: PrometheusCollectorRegistry? = nil) {
        self.registry = registry
        self.statistics = statistics
        self.sources = sources
        self.access = access
        self.pool = pool
        self.metricPrefix = metricPrefix
        self.defaultFormat = defaultFormat
    }

    /// A status page configured from `porter.toml` options (`local_only`, `allow_roles`, `allow_users`, `pool`,
    /// `metric_prefix`).
    public init(options: Options) throws {
        try self.init(options: options, defaultFormat: .text)
    }

    init(options: Options, defaultFormat: Format, registry: PrometheusCollectorRegistry? = nil) throws {
        let prefix = try options.string("metric_prefix", default: "porter")
        guard PrometheusExposition.isValidPrefix(prefix) else {
            throw ConfigurationError("\(options.origin): metric_prefix must match [a-zA-Z_:][a-zA-Z0-9_:]*, got \"\(prefix)\"")
        }
        self.init(access: try AccessPolicy(options: options, localOnlyDefault: true), pool: try options.string("pool"),
                  metricPrefix: prefix, defaultFormat: defaultFormat, registry: registry)
    }

    /// The format `context`'s query asks for.
    func format(for context: HTTPContext) throws(HTTPError) -> Format {
        let q = context.request.query
        switch q["format"] {
        case "json": return .json
        case "prometheus", "openmetrics": return .prometheus
        case "text": return .text
        case nil:
            if q["json"] != nil { return .json }
            if q["prometheus"] != nil || q["openmetrics"] != nil { return .prometheus }
            return defaultFormat
        default:
            throw HTTPError(.badRequest, message: "format must be text, json or prometheus")
        }
    }

    public func processRequest(_ context: HTTPContext) async throws {
        try access.check(context)
        let format = try format(for: context)
        var snapshot = await ServerStatusSources.snapshot(statistics: statistics, extra: sources, application: context.application)
        snapshot.pool = pool ?? snapshot.pool ?? Self.defaultPool
        // Per-process blocks only with `?full`, as PHP-FPM.
        if context.request.query["full"] == nil { snapshot.processes = nil }
        context.response.headers["Cache-Control"] = "no-store"
        switch format {
        case .text:
            context.response.setText(StatusText.render(snapshot), status: .ok)
        case .json:
            try JSONOutput.respond(context, snapshot)
        case .prometheus:
            context.response.setText(PrometheusExposition.render(snapshot, prefix: metricPrefix, registry: registry), status: .ok,
                                     contentType: PrometheusExposition.contentType)
        }
        context.response.headers["Cache-Control"] = "no-store"
    }
}

/// `/metrics`: the status numbers and the request-duration histogram in the Prometheus exposition format.
///
/// The same data as `StatusHandler` with `?format=prometheus`, as its own endpoint for scrapers.
/// Options: as `StatusHandler` (`local_only` true, `allow_roles`, `allow_users`, `metric_prefix`).
public struct MetricsHandler: AsyncHTTPHandler {
    let status: StatusHandler

    /// A metrics endpoint over `statistics`, `sources` and what was recorded through swift-metrics into `registry`.
    public init(statistics: RequestStatistics? = nil, sources: [any ServerStatusSource] = [],
                access: AccessPolicy = .localOnly(), metricPrefix: String = "porter",
                registry: PrometheusCollectorRegistry? = nil) {
        status = StatusHandler(statistics: statistics, sources: sources, access: access, metricPrefix: metricPrefix,
                               defaultFormat: .prometheus, registry: registry)
    }

    /// A metrics endpoint configured from `porter.toml` options, serving `registry` too.
    public init(options: Options, registry: PrometheusCollectorRegistry? = nil) throws {
        status = try StatusHandler(options: options, defaultFormat: .prometheus, registry: registry)
    }

    public func processRequest(_ context: HTTPContext) async throws {
        try await status.processRequest(context)
    }
}

/// The ping page (PHP-FPM's `ping.path`): answers `200` with `pong` as `text/plain`, for health checks.
///
/// Options: `response` (the text, default `pong`).
public struct PingHandler: HTTPHandler {
    /// The answer body, sent as is (PHP-FPM sends `pong` without a newline).
    public let response: String

    /// A ping page answering `response`.
    public init(response: String = "pong") { self.response = response }

    /// A ping page configured from `porter.toml` options (`response`).
    public init(options: Options) throws {
        self.init(response: try options.string("response", default: "pong"))
    }

    public func processRequest(_ context: HTTPContext) throws {
        context.response.setText(response, status: .ok)
        context.response.headers["Cache-Control"] = "no-store"
    }
}
