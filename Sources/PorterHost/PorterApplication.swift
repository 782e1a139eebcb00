public import Porter
public import PorterFastCGI
public import Logging
public import ServiceLifecycle
import ArgumentParser
import Glibc

/// A Porter server (ASP.NET's `HttpApplication` plus its `web.config`): handlers mapped in code and/or
/// bound by name in `porter.toml`, modules, features, settings, and the `porter`-style command line.
///
/// ```swift
/// var app = PorterApplication()
/// app.map("GET", "/time", TimeHandler())
/// app.use(ServerTimingModule())
/// await app.main()          // serve (default), check, request, nginx-config, handlers, …
/// ```
/// Code mappings come first (first match wins), then `[[handlers]]` from the configuration; code modules
/// subscribe before configured ones. Both end up in one registry, so `nginx-config` covers both.
public struct PorterApplication: Sendable {
    /// The program's name in help and logs (default: the executable's file name).
    public var name: String
    /// Settings and configured entries before any `porter.toml` is read: a file overrides the settings it names
    /// and appends its handlers and modules; command-line flags override both.
    public var configuration = ServerConfiguration()
    /// The handler and module names a configuration may use (the core's `log` and `errors`, plus features').
    public private(set) var catalog = Catalog()
    /// Who sets up swift-log: Porter (at `serve`, from `log_level`), or you, before calling `main()`.
    public var logging: LoggingSetup = .porter
    /// What `serve --demo` runs, if this program has a demo.
    public var demo: DemoProvider?
    /// What `--version` prints (default: Porter's own version).
    public var version = "porter \(PorterApplication.porterVersion)"
    /// This release of Porter.
    public static let porterVersion = "0.9.0"

    private(set) var routes: [CodeRoute] = []
    private(set) var codeModules: [any HTTPModule] = []
    private(set) var features: [any PorterFeature] = []
    private(set) var extraServices: [any Service] = []
    private(set) var deferredErrors: [String] = []

    /// An application with no handlers yet.
    public init(name: String? = nil) {
        self.name = name ?? PorterApplication.executableName
    }

    // MARK: - Code-first mapping

    /// Maps `verbs` (`"GET,HEAD"`, `"*"`) + `path` (`/x`, `*.ext`, `/dir/*`, `/dir/*.ext`, `*`) to a sync handler.
    public mutating func map(_ verbs: String, _ path: String, _ handler: some HTTPHandler, name: String? = nil,
                             maxBodyBytes: Int? = nil, edge: EdgePolicy = EdgePolicy(), cache: OutputCachePolicy? = nil) {
        add(verbs, path, .instance(.sync(handler)), name: name ?? String(describing: type(of: handler)), maxBodyBytes: maxBodyBytes, edge: edge, cache: cache)
    }

    /// Maps `verbs` + `path` to an async handler (awaiting holds no thread).
    public mutating func map(_ verbs: String, _ path: String, _ handler: some AsyncHTTPHandler, name: String? = nil,
                             maxBodyBytes: Int? = nil, edge: EdgePolicy = EdgePolicy(), cache: OutputCachePolicy? = nil) {
        add(verbs, path, .instance(.async(handler)), name: name ?? String(describing: type(of: handler)), maxBodyBytes: maxBodyBytes, edge: edge, cache: cache)
    }

    /// Maps `verbs` + `path` to a handler factory (one handler chosen or built per request).
    public mutating func map(_ verbs: String, _ path: String, factory: some HTTPHandlerFactory, name: String? = nil,
                             maxBodyBytes: Int? = nil, edge: EdgePolicy = EdgePolicy(), cache: OutputCachePolicy? = nil) {
        add(verbs, path, .factory(factory), name: name ?? String(describing: type(of: factory)), maxBodyBytes: maxBodyBytes, edge: edge, cache: cache)
    }

    /// Maps `verbs` + `path` to a non-reusable sync handler: `make` builds one per request (`isReusable == false`).
    public mutating func map<H: HTTPHandler>(_ verbs: String, _ path: String, name: String? = nil, maxBodyBytes: Int? = nil,
                                             edge: EdgePolicy = EdgePolicy(), cache: OutputCachePolicy? = nil,
                                             make: @escaping @Sendable () throws -> H) {
        add(verbs, path, .make { .sync(try make()) }, name: name ?? String(describing: H.self), maxBodyBytes: maxBodyBytes, edge: edge, cache: cache)
    }

    /// Maps `verbs` + `path` to a closure, for small endpoints.
    public mutating func map(_ verbs: String, _ path: String, name: String? = nil,
                             _ body: @escaping @Sendable (HTTPContext) async throws -> Void) {
        add(verbs, path, .instance(.async(AsyncClosureHandler(body))), name: name ?? path, maxBodyBytes: nil, edge: EdgePolicy(), cache: nil)
    }

    /// Maps `verbs` + `path` to a handler source (instance, maker or factory), as catalogue builders return.
    public mutating func map(_ verbs: String, _ path: String, source: HandlerSource, name: String, maxBodyBytes: Int? = nil,
                             edge: EdgePolicy = EdgePolicy(), cache: OutputCachePolicy? = nil) {
        add(verbs, path, source, name: name, maxBodyBytes: maxBodyBytes, edge: edge, cache: cache)
    }

    private mutating func add(_ verbs: String, _ path: String, _ source: HandlerSource, name: String, maxBodyBytes: Int?, edge: EdgePolicy,
                              cache: OutputCachePolicy?) {
        do {
            routes.append(CodeRoute(name: name, verbs: VerbSet(verbs), pattern: try PathPattern(path), source: source,
                                    maxBodyBytes: maxBodyBytes, edge: edge, cache: cache))
        } catch {
            deferredErrors.append("map(\"\(verbs)\", \"\(path)\"): \(error)")
        }
    }

    /// Adds a module; its subscribers run in the order modules were added, before configured modules'. A
    /// `ServiceProvidingModule`'s services (e.g. the session purger and PostgreSQL pool) run with the server.
    public mutating func use(_ module: some HTTPModule) {
        codeModules.append(module)
        if let provider = module as? any ServiceProvidingModule { extraServices += provider.services }
    }

    /// Adds a feature's named handlers, modules and subcommands.
    public mutating func add(_ feature: some PorterFeature) {
        catalog.withFeature(feature.name) { feature.register(&$0) }
        features.append(feature)
    }

    /// Registers your own named handlers and modules for `porter.toml` to use.
    public mutating func register(_ body: (inout Catalog) -> Void) { body(&catalog) }

    /// Runs `service` alongside the server (started before serving, shut down after draining).
    public mutating func run(_ service: some Service) { extraServices.append(service) }

    // MARK: - Building

    /// Whether anything is mapped in code (then a configuration file is optional).
    public var hasCodeRoutes: Bool { !routes.isEmpty }

    /// Builds registry, modules and pipeline for `configuration` (code parts first), checking everything a
    /// request would otherwise find out: unknown names, bad options, handlers without the modules they need.
    public func build(_ configuration: ServerConfiguration, logger: Logger) throws -> BuiltApplication {
        if let first = deferredErrors.first { throw ConfigurationError(first) }
        let application = ApplicationState()
        let lifecycle = ServiceCollector()
        for service in extraServices { lifecycle.add(service) }
        let context = BuildContext(application: application, logger: logger, dataDirectory: configuration.dataDirectory,
                                   lifecycle: lifecycle)
        var modules = codeModules
        for module in codeModules { module.publish(in: application.services) }
        for entry in configuration.modules {
            let module = try catalog.modules.build(entry.name, options: entry.options, context: context)
            try Self.refuseUnusedOptions(entry.options, of: "module \"\(entry.name)\"")
            module.publish(in: application.services)
            modules.append(module)
        }
        var registry = HandlerRegistry()
        for route in routes {
            registry.add(HandlerMapping(name: route.name, verbs: route.verbs, pattern: route.pattern, source: route.source,
                                        maxBodyBytes: route.maxBodyBytes ?? route.edge.maxBodyBytes, outputCache: route.cache))
        }
        for entry in configuration.handlers {
            let options = entry.options
            let limit = try options.int("max_concurrency", default: 0)
            let body = RouteBodyLimit(explicit: entry.maxBodyBytes, handlerDefault: try catalog.handlers.edge(entry.handler, options: entry.options).maxBodyBytes,
                                      verbs: VerbSet(entry.verb), serverDefault: configuration.maxBodyBytes)
            // An invalid path is reported by `registry.add` below, with the entry named.
            var source = try catalog.handlers.build(entry.handler, options: options, context: context.forRoute(try? PathPattern(entry.path)))
            _ = try catalog.handlers.edge(entry.handler, options: options)
            let outputCache = try OutputCachePolicy.parse(options)
            try Self.refuseUnusedOptions(options, of: "handler \"\(entry.handler)\"")
            if limit > 0 { source = Bulkhead(limit: limit).wrap(source) }
            do {
                try registry.add(name: entry.handler, verbs: entry.verb, path: entry.path, source: source, maxBodyBytes: body.porter,
                                 outputCache: outputCache)
            } catch {
                throw ConfigurationError("\(entry.options.origin): \(error)")
            }
        }
        let pipeline = Pipeline(registry: registry, modules: modules)
        try pipeline.validate()
        return BuiltApplication(configuration: configuration, pipeline: pipeline, application: application,
                                services: lifecycle.services)
    }

    /// A configured key no builder read is a mistake (a typo, or an option the component does not have).
    static func refuseUnusedOptions(_ options: Options, of component: String) throws(ConfigurationError) {
        guard let key = options.unusedKeys.first else { return }
        let known = options.usedKeys.joined(separator: ", ")
        throw ConfigurationError("\(options.origin): unknown option \"\(key)\" for \(component)"
                                 + (known.isEmpty ? " (it takes none)" : " (it reads: \(known))"))
    }

    /// Subcommands features add.
    var featureCommands: [any ParsableCommand.Type] { features.flatMap(\.commands) }

    /// The running program's file name.
    static var executableName: String {
        let path = CommandLine.arguments.first ?? "porter"
        return path.split(separator: "/").last.map(String.init) ?? "porter"
    }
}

/// A handler mapped in code.
struct CodeRoute: Sendable {
    let name: String
    let verbs: VerbSet
    let pattern: PathPattern
    let source: HandlerSource
    let maxBodyBytes: Int?
    let edge: EdgePolicy
    var cache: OutputCachePolicy? = nil
}

/// Who bootstraps swift-log.
public enum LoggingSetup: Sendable {
    /// Porter does, when it serves: text lines on standard error at the configured `log_level`.
    case porter
    /// You already called `LoggingSystem.bootstrap` (e.g. for OpenTelemetry); Porter leaves it alone.
    case external
}

/// Supplies the configuration `serve --demo` runs, after preparing its state (sample data, generated keys)
/// in `directory`.
public struct DemoProvider: Sendable {
    /// Prepares `directory` and returns the demo's configuration (paths inside `directory`).
    public let prepare: @Sendable (_ directory: String) throws -> ServerConfiguration
    /// A demo provider.
    public init(prepare: @escaping @Sendable (_ directory: String) throws -> ServerConfiguration) { self.prepare = prepare }
}

/// An application built for one configuration: the compiled pipeline, the shared state, and the services
/// its parts asked the host to run.
public struct BuiltApplication: Sendable {
    /// The configuration it was built from.
    public let configuration: ServerConfiguration
    /// The compiled pipeline.
    public let pipeline: Pipeline
    /// The state shared by every request (with its typed services).
    public let application: ApplicationState
    /// Long-running services (database clients, purgers, queues) to run beside the server.
    public let services: [any Service]

    /// The FastCGI server for this application (`listenOverride` replaces `listen`); registers the
    /// transport's counters as a service for status pages.
    public func makeServer(logger: Logger, listenOverride: FastCGIServerConfiguration.Listen? = nil,
                           adjust: (inout FastCGIServerConfiguration) -> Void = { _ in }) throws -> FastCGIServer {
        var transport = try configuration.transport()
        if let listenOverride { transport.listen = listenOverride }
        adjust(&transport)
        let server = FastCGIServer(configuration: transport, pipeline: pipeline, application: application, logger: logger)
        registerTransport(of: server)
        return server
    }

    /// Publishes `server`'s transport counters and the process model in this build's services (for status pages).
    func registerTransport(of server: FastCGIServer) {
        application.services.register(server.statistics)
        application.services.register(ProcessModel(isWorker: MasterProcess.isWorker))
    }

    /// Serves `server` with the long-running services in one `ServiceGroup`: SIGTERM/SIGINT/SIGQUIT drain the
    /// server first, then stop the services in reverse order; modules' `shutdown()` runs last.
    public func serve(_ server: FastCGIServer, extra: [ServiceGroupConfiguration.ServiceConfiguration] = [], logger: Logger) async throws {
        var configurations = services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
        configurations.append(contentsOf: extra)
        configurations.append(.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: .init(services: configurations,
                                                      gracefulShutdownSignals: [.sigterm, .sigint, .sigquit],
                                                      logger: logger))
        // The pipeline in use at the end (a reload may have replaced this build's, and shut that one down).
        do {
            try await group.run()
        } catch {
            await server.pipeline.shutdown()
            throw error
        }
        await server.pipeline.shutdown()
    }
}

/// How this process serves: alone, or as one worker of a master (for status pages).
public struct ProcessModel: Sendable {
    /// Whether a master process started this one.
    public let isWorker: Bool
    /// When this process started serving (seconds since 1970).
    public let startedAt: Int = time(nil)
    /// PHP-FPM's `process manager` field: `single` or `master-worker`.
    public var name: String { isWorker ? "master-worker" : "single" }
}

/// A route as the edge (nginx) needs to know it, without building its handler: name, verbs, pattern, options.
public struct RouteDescription: Sendable {
    /// The handler's name (catalogue name, or the name given in code).
    public let handler: String
    /// The verbs, as written.
    public let verbs: String
    /// The path pattern.
    public let pattern: PathPattern
    /// The configured options (empty for code routes).
    public let options: Options
    /// The largest request body Porter takes on this route (`max_body`, else the handler's default); nil: the server's.
    public let maxBodyBytes: Int?
    /// What nginx should do in front of it (its `client_max_body_size` always set: see `maxBodyBytes`).
    public let edge: EdgePolicy
}

extension PorterApplication {
    /// The nginx `location` rules for every route `configuration` describes (what `nginx-config` prints).
    public func nginxLocations(for configuration: ServerConfiguration) throws -> String {
        // Rule paths of the authorization module: static files under them are checked by Porter (auth_request).
        var protected: [String] = []
        for module in configuration.modules where module.name == "authorization" {
            if case .array(let rules)? = module.options.value("rules") {
                for case .table(let rule) in rules { if case .string(let path)? = rule["path"] { protected.append(path) } }
            }
        }
        return NginxConfig.locations(for: try routes(for: configuration), protectedStaticPaths: protected)
    }

    /// Every route `configuration` describes, code routes first, in match order, with its nginx policy.
    public func routes(for configuration: ServerConfiguration) throws -> [RouteDescription] {
        var out = routes.map { route in
            let body = RouteBodyLimit(explicit: route.maxBodyBytes, handlerDefault: route.edge.maxBodyBytes, verbs: route.verbs,
                                      serverDefault: configuration.maxBodyBytes)
            var edge = route.edge
            edge.maxBodyBytes = body.edge
            return RouteDescription(handler: route.name, verbs: route.verbs.description, pattern: route.pattern, options: Options(),
                                    maxBodyBytes: body.porter, edge: edge)
        }
        for entry in configuration.handlers {
            let pattern: PathPattern
            do { pattern = try PathPattern(entry.path) } catch { throw ConfigurationError("\(entry.options.origin): \(error)") }
            var edge = try catalog.handlers.edge(entry.handler, options: entry.options)
            let body = RouteBodyLimit(explicit: entry.maxBodyBytes, handlerDefault: edge.maxBodyBytes, verbs: VerbSet(entry.verb),
                                      serverDefault: configuration.maxBodyBytes)
            edge.maxBodyBytes = body.edge
            out.append(RouteDescription(handler: entry.handler, verbs: entry.verb, pattern: pattern, options: entry.options,
                                        maxBodyBytes: body.porter, edge: edge))
        }
        // Configured modules may add to every route's location (an identity snippet, for instance).
        return try out.map { route in
            var edge = route.edge
            for module in configuration.modules {
                edge.merge(try catalog.modules.routeEdge(module.name, options: module.options, pattern: route.pattern))
            }
            return RouteDescription(handler: route.handler, verbs: route.verbs, pattern: route.pattern, options: route.options,
                                    maxBodyBytes: route.maxBodyBytes, edge: edge)
        }
    }
}
