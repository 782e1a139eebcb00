import ArgumentParser
import Logging
import Porter
import PorterFastCGI
import ServiceLifecycle
import Glibc

/// `porter serve`: runs the FastCGI server (or, under a CGI web server, answers one CGI request).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the configured handlers over FastCGI.")

    @OptionGroup var source: ConfigurationSource

    @Option(help: "Unix socket path to listen on (overrides `listen`).")
    var socket: String?

    @Option(help: "Listen address: /path.sock, 127.0.0.1:9000 or fd:0 (overrides `listen`).")
    var listen: String?

    @Option(help: "Unix socket mode, octal (e.g. 0660).")
    var socketMode: String?

    @Option(help: "Unix socket group (nginx's group, e.g. www-data).")
    var socketGroup: String?

    @Option(help: "Worker threads.")
    var threads: Int?

    @Option(help: "Worker processes (a master keeps the socket; 0 serves in this process).")
    var workers: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(help: "Log format: text or json (one JSON object per line).")
    var logFormat: String?

    func run() async throws {
        let app = PorterApplication.current
        try await serve(app, try effectiveConfiguration(app))
    }

    /// The configuration file (or code) with this command line's overrides applied.
    func effectiveConfiguration(_ app: PorterApplication) throws -> ServerConfiguration {
        var configuration = try source.resolve(app)
        if let socket { configuration.listen = socket }
        if let listen { configuration.listen = listen }
        if let socketMode {
            guard let m = UInt32(socketMode, radix: 8) else { throw ValidationError("--socket-mode must be octal, e.g. 0660") }
            configuration.socketMode = m
        }
        if let socketGroup { configuration.socketGroup = socketGroup }
        if let threads { configuration.threads = threads }
        if let workers { configuration.workers = workers }
        if let logLevel { configuration.logLevel = logLevel }
        if let logFormat {
            guard ["text", "json"].contains(logFormat) else { throw ValidationError("--log-format must be text or json") }
            configuration.logFormat = logFormat
        }
        return configuration
    }

    func serve(_ app: PorterApplication, _ configuration: ServerConfiguration) async throws {
        var configuration = configuration
        guard let level = Logger.Level(rawValue: configuration.logLevel) else {
            throw ValidationError("unknown log level \(configuration.logLevel)")
        }
        if case .porter = app.logging {
            let json = configuration.logFormat == "json"
            LoggingSystem.bootstrap { label in
                if json {
                    var handler = JSONLogHandler(label: label)
                    handler.logLevel = level
                    return handler
                }
                var handler = TextLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = { var l = Logger(label: app.name); l.logLevel = level; return l }()
        if MasterProcess.isCheckChild { // the master's configuration check: build as a worker would, then exit
            _ = try app.build(configuration, logger: logger)
            return
        }
        // Started by spawn-fcgi or `cgi-fcgi -start` (a listening socket on fd 0) with no address given: serve it.
        if socket == nil && listen == nil && !CGIRunner.isCGI() && ListenSocket.isListening(0) {
            configuration.listen = "fd:0"
        }
        if CGIRunner.isCGI() && socket == nil && listen == nil && getenv("GATEWAY_INTERFACE") != nil {
            let built = try app.build(configuration, logger: logger)
            await CGIRunner.run(pipeline: built.pipeline, application: built.application, logger: logger)
            return
        }
        if configuration.workers > 0 && getenv(MasterProcess.workerEnvironmentKey) == nil {
            // Refuse to start a master on a configuration workers cannot build; built in a child, so what building
            // loads (libvips, database pools) stays out of the master.
            if let status = MasterProcess.buildsInChild(logger: logger) {
                guard status == 0 else { throw ExitCode(status) }
            } else {
                _ = try app.build(configuration, logger: logger)
            }
            try await MasterProcess(app: app, configuration: configuration, source: source, logger: logger).run()
            return
        }
        let isWorker = MasterProcess.isWorker
        if isWorker { ProcessControl.terminateWithParent() }
        let built = try app.build(configuration, logger: logger)
        let server = try built.makeServer(logger: logger, listenOverride: MasterProcess.inheritedListen()) { transport in
            if isWorker {
                // PHP-FPM's request_terminate_timeout: a stuck sync handler costs this worker, not the site.
                transport.onStuckRequest = { path in
                    logger.critical("worker exiting: a request is stuck past its timeout", metadata: ["path": .string(path)])
                    Glibc.exit(70)
                }
            }
        }
        var extra: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: MemoryRelease(server: server, logger: logger)),
        ]
        if !isWorker {
            // SIGHUP reloads in this process too (a master's workers are replaced by the master instead).
            nonisolated(unsafe) let overrides = self // only read: the command line's options
            extra.append(.init(service: SingleProcessReload(server: server, initial: configuration,
                                                            load: { try overrides.effectiveConfiguration(app) }, app: app, logger: logger)))
        }
        if isWorker && configuration.maxRequests > 0 {
            extra.append(.init(service: RecyclingService(server: server, maxRequests: configuration.maxRequests, logger: logger),
                               successTerminationBehavior: .gracefullyShutdownGroup))
        }
        try await built.serve(server, extra: extra, logger: logger)
    }

    /// Gives memory back to the system: once the server has started, what only start-up used
    /// (`ProcessMemory.releaseAfterStartup`); then, whenever traffic stops, the heap its requests freed
    /// (`ProcessMemory.trimHeap`), once per busy period, with no request in flight: glibc keeps freed memory in its
    /// per-thread arenas otherwise (the demo after a few image resizes: 72 MiB RSS, 52 MiB after the trim).
    struct MemoryRelease: Service, CustomStringConvertible {
        var description: String { "MemoryRelease" }
        let server: FastCGIServer
        let logger: Logger
        /// How long no request may start before the freed heap is returned.
        static let idleAfter: Duration = .seconds(2)
        /// How often the request counters are looked at (also bounds how long this delays a graceful shutdown).
        static let pollInterval: Duration = .milliseconds(250)

        func run() async throws {
            let statistics = server.statistics
            while statistics.threads.load(ordering: .relaxed) == 0 {
                guard (try? await Task.sleep(for: .milliseconds(20))) != nil else { return }
            }
            // A moment more for the other services to start (what they touch later only stays resident).
            guard (try? await Task.sleep(for: .milliseconds(500))) != nil else { return }
            let released = ProcessMemory.releaseAfterStartup()
            logger.debug("released start-up memory", metadata: ["file_pages_kib": .stringConvertible(released.fileBytes / 1024),
                                                               "mappings": .stringConvertible(released.mappings)])
            // Runs until the group shuts down (ServiceLifecycle takes a service that ended earlier for a failure then).
            var seen = statistics.acceptedRequests.load(ordering: .relaxed)
            var quietSince = ContinuousClock.now
            var trimmed = true
            while !Task.isShuttingDownGracefully {
                guard (try? await Task.sleep(for: Self.pollInterval)) != nil else { return }
                let accepted = statistics.acceptedRequests.load(ordering: .relaxed)
                if accepted != seen {
                    seen = accepted
                    quietSince = .now
                    trimmed = false
                } else if !trimmed, statistics.activeRequests.load(ordering: .relaxed) == 0, quietSince.duration(to: .now) >= Self.idleAfter {
                    ProcessMemory.trimHeap()
                    trimmed = true
                    logger.debug("returned freed heap after traffic", metadata: ["requests": .stringConvertible(accepted)])
                }
            }
        }
    }

    /// Stops a worker process gracefully after `maxRequests` requests (PHP-FPM's `pm.max_requests`).
    struct RecyclingService: Service, CustomStringConvertible {
        var description: String { "RecyclingService" }
        let server: FastCGIServer
        let maxRequests: Int
        let logger: Logger

        func run() async throws {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if server.statistics.acceptedRequests.load(ordering: .relaxed) >= maxRequests {
                    logger.info("max_requests reached: recycling this worker", metadata: ["requests": .stringConvertible(maxRequests)])
                    server.shutdown()
                    await server.waitUntilStopped()
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
