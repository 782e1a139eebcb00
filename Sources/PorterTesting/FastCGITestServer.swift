public import Porter
public import PorterFastCGI
public import FastCGIWire
import Logging
import Glibc

/// Tier 2 of the tests: a real `FastCGIServer` (libfcgi, epoll, worker threads) on a temporary unix socket
/// in this process, plus clients that speak FastCGI to it.
public final class FastCGITestServer: Sendable {
    /// The server under test.
    public let server: FastCGIServer
    /// The socket path.
    public let socketPath: String
    /// The temporary directory holding the socket.
    public let directory: String

    /// Starts a server for `registry` + `modules` (sync handlers on its worker threads).
    public convenience init(registry: HandlerRegistry, modules: [any HTTPModule] = [],
                            configure: (inout FastCGIServerConfiguration) -> Void = { _ in }) throws {
        let pipeline = Pipeline(registry: registry, modules: modules)
        try self.init(pipeline: pipeline, configure: configure)
    }

    /// Starts a server for `pipeline`.
    public init(pipeline: Pipeline, configure: (inout FastCGIServerConfiguration) -> Void = { _ in }) throws {
        directory = Self.makeShortTemporaryDirectory()
        socketPath = directory + "/s"
        var configuration = FastCGIServerConfiguration(listen: .unix(path: socketPath))
        configuration.socketMode = 0o600
        configuration.threads = 4
        configure(&configuration)
        var logger = Logger(label: "porter.test")
        logger.logLevel = .warning
        server = FastCGIServer(configuration: configuration, pipeline: pipeline, application: ApplicationState(), logger: logger)
        try server.start()
    }

    /// A new FastCGI client connected to this server.
    public func client(timeout: Duration = hangGuard) -> FastCGIClient {
        FastCGIClient(unixPath: socketPath, timeout: timeout)
    }

    /// Sends one request on a fresh connection.
    public func send(_ request: FastCGIRequest) throws -> FastCGIResponse {
        let c = client()
        defer { c.close() }
        return try c.send(request)
    }

    /// Sends one request on a fresh connection from a thread of its own (does not block the test's task pool).
    public func fetch(_ request: FastCGIRequest) async throws -> FastCGIResponse {
        try await ConcurrentClients.offPool { try self.send(request) }
    }

    /// Stops the server gracefully and waits for it.
    public func stop() async {
        server.shutdown()
        await server.waitUntilStopped()
        rmdir(directory)
    }

    /// A directory like /tmp/porter-XXXXXX (short: unix socket paths are limited to 108 bytes).
    public static func makeShortTemporaryDirectory() -> String {
        var template = Array("/tmp/porter-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    /// The number of OS threads in this process (from /proc/self/task).
    public static func threadCount() -> Int {
        guard let dir = opendir("/proc/self/task") else { return -1 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { n += 1 }
        }
        return n
    }
}
