public import Porter
public import PorterFastCGI
public import Logging
import PorterOps

/// Builds a running Porter from a configuration: the registry from `[[handlers]]`, the modules from
/// `[[modules]]`, the pipeline, and the FastCGI server. Add your own handlers to `handlers` before building.
public struct PorterApplication: Sendable {
    /// The configuration.
    public var configuration: ServerConfiguration
    /// Handler names the configuration may use.
    public var handlers: HandlerCatalog = .builtIn
    /// Module names the configuration may use.
    public var modules: ModuleCatalog = .builtIn
    /// The state shared by every request.
    public let application = ApplicationState()
    /// Shared services (trace log, statistics, …).
    public let services = ServiceBox()

    /// An application for `configuration` with the built-in catalogues (plus those added via `PorterMain.run`).
    public init(configuration: ServerConfiguration) {
        self.configuration = configuration
        (handlers, modules) = PorterMain.catalogues()
    }

    /// The registry the configuration describes.
    public func makeRegistry(logger: Logger) throws -> HandlerRegistry {
        let context = BuildContext(application: application, logger: logger, services: services)
        var registry = HandlerRegistry()
        for entry in configuration.handlers {
            var options = entry.options
            let limit = try options.int("max_concurrency", default: 0)
            options.values["max_concurrency"] = nil
            var source = try handlers.build(entry.handler, options: options, context: context)
            if limit > 0 { source = Bulkhead(limit: limit).wrap(source) }
            do {
                try registry.add(name: entry.handler, verbs: entry.verb, path: entry.path, source: source)
            } catch {
                throw ConfigurationError("\(entry.options.origin): \(error)")
            }
        }
        return registry
    }

    /// The module list the configuration describes.
    public func makeModules(logger: Logger) throws -> [any HTTPModule] {
        let context = BuildContext(application: application, logger: logger, services: services)
        return try configuration.modules.map { try modules.build($0.name, options: $0.options, context: context) }
    }

    /// The compiled pipeline (sync handlers run on the transport's worker threads).
    public func makePipeline(logger: Logger) throws -> Pipeline {
        Pipeline(registry: try makeRegistry(logger: logger), modules: try makeModules(logger: logger))
    }

    /// The FastCGI server for this application.
    public func makeServer(logger: Logger, listenOverride: FastCGIServerConfiguration.Listen? = nil,
                           adjust: (inout FastCGIServerConfiguration) -> Void = { _ in }) throws -> FastCGIServer {
        var transport = try configuration.transport()
        if let listenOverride { transport.listen = listenOverride }
        adjust(&transport)
        let pipeline = try makePipeline(logger: logger)
        let server = FastCGIServer(configuration: transport, pipeline: pipeline, application: application, logger: logger)
        services.register(TransportStatisticsService(statistics: server.statistics))
        ServerStatusSources.register(TransportStatusSource(statistics: server.statistics,
                                                           processManager: MasterProcess.isWorker ? "master-worker" : "single"),
                                     in: application)
        return server
    }
}

/// The transport's counters, as a shared service the status page reads.
public struct TransportStatisticsService: Sendable {
    /// The counters.
    public let statistics: TransportStatistics
}

extension ServiceBox {
    /// Stores a service under its type name, replacing an earlier one.
    public func register<T: Sendable>(_ service: T) {
        _ = replace(String(reflecting: T.self), with: service)
    }

    /// The service of type `T` registered with `register(_:)`, if any.
    public func lookup<T: Sendable>(_ type: T.Type) -> T? {
        peek(String(reflecting: T.self)) as? T
    }
}
