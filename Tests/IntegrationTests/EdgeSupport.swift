import Foundation
import Logging
import Porter
import PorterFastCGI
import PorterHost
import PorterTesting
import Testing

/// A logger that stays quiet in tests.
let edgeLogger: Logger = {
    var logger = Logger(label: "porter.edge-test")
    logger.logLevel = .critical
    return logger
}()

/// An in-process Porter for `app` + `configuration` behind the shipped nginx site (listen and socket mode set here).
struct InProcessSite: Sendable {
    let server: FastCGIServer
    let site: NginxPorterSite
    let built: BuiltApplication

    init(_ app: PorterApplication, _ configuration: ServerConfiguration, staticFiles: [String: String] = ["index.html": "<h1>static</h1>\n"]) throws {
        var configuration = configuration
        configuration.listen = FastCGITestServer.makeShortTemporaryDirectory() + "/s"
        configuration.socketMode = 0o666
        built = try app.build(configuration, logger: edgeLogger)
        server = try built.makeServer(logger: edgeLogger)
        try server.start()
        site = try NginxPorterSite(socketPath: configuration.listen, locations: try app.nginxLocations(for: configuration),
                                   staticFiles: staticFiles)
    }

    /// Starts one from a helper thread: building opens databases and starting nginx waits for its port, which must
    /// not hold a thread of the cooperative pool the in-process server's async handlers need.
    static func start(_ app: PorterApplication, _ configuration: ServerConfiguration,
                      staticFiles: [String: String] = ["index.html": "<h1>static</h1>\n"]) async throws -> InProcessSite {
        try await ConcurrentClients.offPool { try InProcessSite(app, configuration, staticFiles: staticFiles) }
    }

    /// Stops nginx and the server.
    func stop() async {
        site.stop()
        server.shutdown()
        await server.waitUntilStopped()
    }
}

/// Runs `porter` with `arguments` to completion (bounded) and returns its exit status and output.
func runPorter(_ arguments: [String], in dir: TemporaryDirectory, name: String) async throws -> (status: Int32?, output: String) {
    let process = try PorterProcess(arguments: arguments, logPath: dir.path("\(name).log"))
    let status = try await ConcurrentClients.offPool { process.waitForExit(timeout: .seconds(60)) }
    return (status, process.log)
}

/// Stops a `porter serve` process and its nginx.
func stopProcess(_ porter: PorterProcess, _ site: NginxPorterSite) async throws {
    porter.signal(SIGTERM)
    _ = try await ConcurrentClients.offPool { porter.waitForExit(timeout: .seconds(15)) }
    site.stop()
}

/// Polls `condition` (off the cooperative pool) until it holds or `timeout` passes (a hang guard, not a timing claim).
func eventually(timeout: Duration = .seconds(30), _ condition: @escaping @Sendable () throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await ConcurrentClients.offPool(condition) { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}
