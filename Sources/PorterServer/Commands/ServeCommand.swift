import ArgumentParser
import Logging
import Porter
import PorterFastCGI
import ServiceLifecycle
import Glibc

/// `porter serve`: runs the FastCGI server (or, under a CGI web server, answers one CGI request).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the configured handlers over FastCGI.")

    @Option(name: .shortAndLong, help: "Configuration file (default: ./porter.toml if present, else the built-in demo).")
    var config: String?

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

    func run() async throws {
        var configuration = try ServeCommand.loadConfiguration(config)
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
        guard let level = Logger.Level(rawValue: configuration.logLevel) else {
            throw ValidationError("unknown log level \(configuration.logLevel)")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "porter")
        // Started by spawn-fcgi or `cgi-fcgi -start` (a listening socket on fd 0) with no address given: serve it.
        if socket == nil && listen == nil && !CGIRunner.isCGI() && ListenSocket.isListening(0) {
            configuration.listen = "fd:0"
        }
        let app = PorterApplication(configuration: configuration)

        if CGIRunner.isCGI() && socket == nil && listen == nil && getenv("GATEWAY_INTERFACE") != nil {
            let pipeline = try app.makePipeline(logger: logger)
            await CGIRunner.run(pipeline: pipeline, application: app.application, logger: logger)
            return
        }
        if configuration.workers > 0 && getenv(MasterProcess.workerEnvironmentKey) == nil {
            try await MasterProcess(configuration: configuration, configPath: config, logger: logger).run()
            return
        }
        let isWorker = MasterProcess.isWorker
        if isWorker { ProcessControl.terminateWithParent() }
        let server = try app.makeServer(logger: logger, listenOverride: MasterProcess.inheritedListen()) { transport in
            if isWorker {
                // PHP-FPM's request_terminate_timeout: a stuck sync handler costs this worker, not the site.
                transport.onStuckRequest = { _ in
                    logger.critical("worker exiting: a request is stuck past its timeout")
                    Glibc.exit(70)
                }
            }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        if isWorker && configuration.maxRequests > 0 {
            services.append(.init(service: RecyclingService(server: server, maxRequests: configuration.maxRequests, logger: logger),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(configuration: .init(services: services,
                                                      gracefulShutdownSignals: [.sigterm, .sigint, .sigquit],
                                                      logger: logger))
        try await group.run()
        await server.pipeline.shutdown()
    }

    /// Stops a worker process gracefully after `maxRequests` requests (PHP-FPM's `pm.max_requests`).
    struct RecyclingService: Service {
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

    /// The configuration from `path`, else `./porter.toml`, else the checkout's `deploy/porter.toml` (the demo
    /// with its data beside it), else the built-in demo.
    static func loadConfiguration(_ path: String?) throws -> ServerConfiguration {
        if let path { return try ServerConfiguration.load(path: path) }
        for candidate in ["porter.toml", "deploy/porter.toml"] where access(candidate, R_OK) == 0 {
            return try ServerConfiguration.load(path: candidate)
        }
        return ServerConfiguration.demo
    }
}
