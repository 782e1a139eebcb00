public import Porter
public import Logging
public import ServiceLifecycle
import Synchronization

/// What a handler or module builder gets besides its options: shared state, typed services, and a way to
/// hand long-running work (database clients, purgers, queues) to the host's `ServiceGroup`.
public struct BuildContext: Sendable {
    /// The application state all requests share (the user's `Application` bag).
    public let application: ApplicationState
    /// The server's logger.
    public let logger: Logger
    /// Where relative data paths (databases, key files) are anchored.
    public let dataDirectory: String
    /// The path pattern of the route whose handler is being built (`*.rss`, `/feeds/*.atom`); nil for modules.
    public private(set) var route: PathPattern?
    private let lifecycle: ServiceCollector

    /// A build context; `lifecycle` collects the services builders start.
    public init(application: ApplicationState, logger: Logger, dataDirectory: String = ".", lifecycle: ServiceCollector = ServiceCollector()) {
        self.application = application
        self.logger = logger
        self.dataDirectory = dataDirectory
        self.lifecycle = lifecycle
    }

    /// This context for building the handler of the route at `pattern`.
    public func forRoute(_ pattern: PathPattern?) -> BuildContext {
        var copy = self
        copy.route = pattern
        return copy
    }

    /// Process-wide services by type: register what your module provides, `require` what your handler needs.
    public var services: ApplicationServices { application.services }

    /// Runs `service` for as long as the server runs (started before it serves, shut down after it drained).
    public func run(_ service: some Service) { lifecycle.add(service) }
}

/// A module with long-running work (a database pool, a purger) the host must run: `PorterApplication.use`
/// runs its `services` with the server; a catalogue builder passes them to `BuildContext.run`.
public protocol ServiceProvidingModule: HTTPModule {
    /// The services to run for as long as the server runs.
    var services: [any Service] { get }
}

/// The long-running services builders asked the host to run, in the order they were added.
public final class ServiceCollector: Sendable {
    private let list = Mutex<[any Service]>([])
    /// An empty collector.
    public init() {}
    /// Adds a service.
    public func add(_ service: any Service) { list.withLock { $0.append(service) } }
    /// The services added so far.
    public var services: [any Service] { list.withLock { $0 } }
}

/// One named builder in a catalogue, with the one-line summary `porter handlers` prints.
public struct CatalogEntry<Built>: Sendable {
    /// What it is for, shown by `porter handlers`.
    public let summary: String
    /// The feature that registered it (`core`, `feeds`, …).
    public let feature: String
    /// Builds it from options.
    public let build: @Sendable (Options, BuildContext) throws -> Built
    /// What nginx should do in front of a route to it, from the same options (handlers only).
    public let edge: @Sendable (Options) throws -> EdgePolicy
    /// What a module adds to the nginx location of every route (by path pattern), from the module's options.
    public var routeEdge: @Sendable (Options, PathPattern) throws -> EdgePolicy = { _, _ in EdgePolicy() }
}

/// Named handler builders: the configuration binds paths to these names (`handler = "rss"`).
public struct HandlerCatalog: Sendable {
    /// Builds a handler source from options.
    public typealias Builder = @Sendable (Options, BuildContext) throws -> HandlerSource
    /// The registered builders by name.
    public private(set) var entries: [String: CatalogEntry<HandlerSource>] = [:]
    /// The feature whose `register` is running (set by the host).
    var currentFeature = "app"

    /// An empty catalogue.
    public init() {}

    /// Registers (or replaces) a builder under `name`; `edge` derives the route's nginx policy from its options.
    public mutating func register(_ name: String, summary: String,
                                  edge: @escaping @Sendable (Options) throws -> EdgePolicy = { _ in EdgePolicy() },
                                  build: @escaping Builder) {
        entries[name] = CatalogEntry(summary: summary, feature: currentFeature, build: build, edge: edge)
    }

    /// The nginx policy for a route to the named handler with `options` (none for unknown names).
    public func edge(_ name: String, options: Options) throws -> EdgePolicy {
        try entries[name]?.edge(options) ?? EdgePolicy()
    }

    /// Builds the named handler; unknown names are a configuration error listing the known ones.
    public func build(_ name: String, options: Options, context: BuildContext) throws -> HandlerSource {
        guard let entry = entries[name] else {
            throw ConfigurationError("\(options.origin): unknown handler \"\(name)\" (known: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        return try entry.build(options, context)
    }
}

/// Named module builders: the configuration lists modules by these names (`name = "session"`).
public struct ModuleCatalog: Sendable {
    /// Builds a module from options.
    public typealias Builder = @Sendable (Options, BuildContext) throws -> any HTTPModule
    /// The registered builders by name.
    public private(set) var entries: [String: CatalogEntry<any HTTPModule>] = [:]
    /// The feature whose `register` is running (set by the host).
    var currentFeature = "app"

    /// An empty catalogue.
    public init() {}

    /// Registers (or replaces) a builder under `name`; `routeEdge` adds nginx directives to the routes the
    /// module covers (e.g. a snippet that sets a trusted identity), from the module's options and a route's path.
    public mutating func register(_ name: String, summary: String,
                                  routeEdge: @escaping @Sendable (Options, PathPattern) throws -> EdgePolicy = { _, _ in EdgePolicy() },
                                  build: @escaping Builder) {
        var entry = CatalogEntry(summary: summary, feature: currentFeature, build: build, edge: { _ in EdgePolicy() })
        entry.routeEdge = routeEdge
        entries[name] = entry
    }

    /// What the named module (configured with `options`) adds to the nginx location of a route with `pattern`.
    public func routeEdge(_ name: String, options: Options, pattern: PathPattern) throws -> EdgePolicy {
        try entries[name]?.routeEdge(options, pattern) ?? EdgePolicy()
    }

    /// Builds the named module; unknown names are a configuration error listing the known ones.
    public func build(_ name: String, options: Options, context: BuildContext) throws -> any HTTPModule {
        guard let entry = entries[name] else {
            throw ConfigurationError("\(options.origin): unknown module \"\(name)\" (known: \(entries.keys.sorted().joined(separator: ", ")))")
        }
        return try entry.build(options, context)
    }
}

/// The handler and module names a configuration may use.
public struct Catalog: Sendable {
    /// Handler builders.
    public var handlers = HandlerCatalog()
    /// Module builders.
    public var modules = ModuleCatalog()

    /// The core's own names: the `log` and `errors` modules.
    public init() {
        modules.currentFeature = "core"
        modules.register("log", summary: "one log line per request; slow requests as warnings (options: slow_ms)") { options, _ in
            RequestLoggingModule(slowThreshold: .milliseconds(try options.int("slow_ms", default: 1000)))
        }
        modules.register("errors", summary: "HTML error pages, no internals leaked; customErrors (options: mode = on|off|remote_only, pages = { 404 = \"file\" }, default_page)") { options, context in
            ErrorPageModule(customErrors: try CustomErrors(options: options, directory: context.dataDirectory))
        }
        modules.register("output-cache", summary: "replays cacheable responses (routes' output_cache) from memory (options: max_bytes, max_entry_bytes)") { options, _ in
            let maxBytes = try ByteSize.option("max_bytes", in: options) ?? 16 << 20
            return OutputCacheModule(cache: OutputCache(maxBytes: maxBytes, maxEntryBytes: try ByteSize.option("max_entry_bytes", in: options)))
        }
        handlers.currentFeature = "core"
        handlers.register("download", summary: "GET /download/NAME: nginx sends NAME from the files directory to signed-in users (options: location, attachment)",
                          edge: { options in try DownloadHandler.edge(options: options) }) { options, _ in
            .instance(.sync(try DownloadHandler(options: options)))
        }
        handlers.currentFeature = "app"
        modules.currentFeature = "app"
    }

    mutating func withFeature(_ name: String, _ body: (inout Catalog) -> Void) {
        handlers.currentFeature = name
        modules.currentFeature = name
        body(&self)
        handlers.currentFeature = "app"
        modules.currentFeature = "app"
    }
}
