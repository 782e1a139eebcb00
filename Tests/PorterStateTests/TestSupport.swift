import Foundation
import Logging
import Porter
import PostgresNIO
import ServiceLifecycle
import PorterTesting
import Testing
@testable import PorterState

/// A context for a pipeline-tier test.
func makeContext(_ method: HTTPMethod = .get, _ uri: String, headers: HTTPHeaders = [:], body: String = "",
                 parameters: [String: String] = [:], application: ApplicationState = ApplicationState()) -> HTTPContext {
    HTTPContext(request: HTTPRequest(method: method, uri: uri, headers: headers, body: Array(body.utf8), parameters: parameters),
                application: application, logger: Logger(label: "test"))
}

/// A form POST context.
func makeFormPost(_ uri: String, _ fields: [(String, String)], cookies: String? = nil) -> HTTPContext {
    var headers: HTTPHeaders = ["Content-Type": "application/x-www-form-urlencoded"]
    if let cookies { headers["Cookie"] = cookies }
    let body = fields.map { PercentEncoding.encode($0.0) + "=" + PercentEncoding.encode($0.1) }.joined(separator: "&")
    return makeContext(.post, uri, headers: headers, body: body)
}

/// The response body as text.
func bodyText(_ ctx: HTTPContext) -> String { String(decoding: ctx.response.bufferedBody ?? [], as: UTF8.self) }

/// The `Set-Cookie` of `name` in the response, if any.
func setCookie(_ ctx: HTTPContext, _ name: String) -> SetCookie? { ctx.response.cookies.last { $0.name == name } }

/// The directory holding this test process's temporary files; removed when the process exits.
let testRoot: URL = {
    let url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("porter-state-tests-\(getpid())")
    atexit { try? FileManager.default.removeItem(at: testRoot) }
    return url
}()

/// A fresh temporary directory (under `testRoot`).
func temporaryDirectory() throws -> URL {
    let url = testRoot.appendingPathComponent(UUID().uuidString)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs `body` on a thread of its own and returns its result, so blocking work (processes, polling) never
/// occupies a thread of Swift's small cooperative pool, which every test in this process shares.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}


/// Runs a program and returns its exit status and combined output (blocks: from a test, use `onOwnThread`).
@discardableResult
func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A throwaway PostgreSQL server for the tests: Debian's `postgresql` package (installed with apt-get when
/// missing), `initdb` into a temporary directory as the `postgres` user, started on 127.0.0.1 at a free port with
/// its socket in the same directory. A watchdog shell stops it (SIGINT = fast shutdown) and removes the directory
/// as soon as the test process exits, however it exits.
final class PostgresTestServer: Sendable {
    let port: Int
    let directory: String

    init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    /// The one server of this test process, or the reason it could not be started (started on a thread of
    /// its own: initdb and the start-up wait block).
    static let shared: Task<Result<PostgresTestServer, SkipReason>, Never> = Task {
        (try? await onOwnThread { start() }) ?? .failure(SkipReason(description: "cannot start postgres"))
    }

    struct SkipReason: Error, CustomStringConvertible {
        let description: String
        /// True only when PostgreSQL is not installed and cannot be installed (the one reason to skip).
        var notInstallable = false
    }

    /// A configuration for a new, empty database on the server.
    func makeDatabase() async throws -> PostgresClient.Configuration {
        let name = "porter_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let port = self.port
        let (status, output) = try await onOwnThread {
            try run(Self.binary("psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres",
                                          "-d", "postgres", "-c", "CREATE DATABASE \(name)"])
        }
        guard status == 0 else { throw SkipReason(description: "CREATE DATABASE failed: \(output)") }
        return .init(host: "127.0.0.1", port: port, username: "postgres", password: nil, database: String(name), tls: .disable)
    }

    static func binDirectory() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        return versions.map { "\(base)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: "\($0)/postgres") }
    }

    static func binary(_ name: String) -> String { "\(binDirectory() ?? "/usr/lib/postgresql/15/bin")/\(name)" }

    static func start() -> Result<PostgresTestServer, SkipReason> {
        do {
            if binDirectory() == nil {
                print("PostgreSQL not found; installing Debian's postgresql package")
                var result = try run("/usr/bin/apt-get", ["install", "-y", "-q", "postgresql"])
                if result.status != 0 {
                    _ = try? run("/usr/bin/apt-get", ["update", "-q"])
                    result = try run("/usr/bin/apt-get", ["install", "-y", "-q", "postgresql"])
                }
                guard binDirectory() != nil else {
                    return .failure(SkipReason(description: "cannot install postgresql: \(result.output.suffix(400))", notInstallable: true))
                }
            }
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/runuser"
            if getuid() == 0, (try run("/usr/bin/id", ["-u", "postgres"])).status != 0 {
                try run("/usr/sbin/useradd", ["--system", "--no-create-home", "postgres"])
            }
            let asPostgres: (String, [String]) throws -> (Int32, String) = { tool, args in
                getuid() == 0 ? try run(runuser, ["-u", "postgres", "--", binary(tool)] + args) : try run(binary(tool), args)
            }
            // The port is free when picked but another process may take it before postgres binds it: then
            // postgres exits at once, and a fresh attempt picks another port.
            var lastLog = ""
            for _ in 1...3 {
                let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("porter-state-pg-\(UUID().uuidString)").path
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let data = dir + "/data"
                try run("/bin/chown", ["-R", "postgres", dir])
                let initdb = try asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
                guard initdb.0 == 0 else { return .failure(SkipReason(description: "initdb failed: \(initdb.1.suffix(400))")) }
                let port = try freePort()
                // The watchdog: starts postgres, waits while the test process lives, then stops postgres and
                // cleans up (it leaves the directory, with the server log, if postgres died on its own).
                let script = """
                    \(getuid() == 0 ? "\(runuser) -u postgres -- " : "")\(binary("postgres")) -D \(data) -k \(dir) -p \(port) -h 127.0.0.1 \
                    -c fsync=off -c synchronous_commit=off -c full_page_writes=off > \(dir)/server.log 2>&1 &
                    pg=$!
                    while kill -0 \(getpid()) 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done
                    kill -0 \(getpid()) 2>/dev/null && exit 0
                    kill -INT "$(head -1 \(data)/postmaster.pid 2>/dev/null)" 2>/dev/null; wait $pg; rm -rf \(dir)
                    """
                let watchdog = Process()
                watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
                watchdog.arguments = ["-c", script]
                watchdog.standardOutput = FileHandle.nullDevice
                watchdog.standardError = FileHandle.nullDevice
                try watchdog.run()
                // Ready when pg_isready says so; the deadline only guards against a server that never comes up.
                let clock = ContinuousClock()
                let deadline = clock.now + hangGuard * 2
                while clock.now < deadline && watchdog.isRunning {
                    if (try run(binary("pg_isready"), ["-h", "127.0.0.1", "-p", String(port), "-q"])).status == 0 {
                        print("PostgreSQL test server on 127.0.0.1:\(port), data in \(data)")
                        return .success(PostgresTestServer(port: port, directory: dir))
                    }
                    usleep(100_000)
                }
                lastLog = (try? String(contentsOfFile: dir + "/server.log", encoding: .utf8)) ?? ""
                if watchdog.isRunning {
                    return .failure(SkipReason(description: "postgres did not start within \(hangGuard * 2): \(lastLog.suffix(400))"))
                }
                try? FileManager.default.removeItem(atPath: dir)
            }
            return .failure(SkipReason(description: "postgres exited at start-up three times: \(lastLog.suffix(400))"))
        } catch {
            return .failure(SkipReason(description: "cannot start postgres: \(error)"))
        }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw SkipReason(description: "no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// Returns the test server. When PostgreSQL cannot be installed the test is cancelled (reported as skipped,
/// with the reason); any other failure to start it fails the test.
func postgresServer() async throws -> PostgresTestServer {
    switch await PostgresTestServer.shared.value {
    case .success(let server): return server
    case .failure(let reason) where reason.notInstallable:
        try Test.cancel("PostgreSQL cannot be installed: \(reason)")
    case .failure(let reason):
        throw reason
    }
}

/// Runs `services` in a `ServiceGroup` while `body` runs, then shuts the group down gracefully and waits until
/// every service returned (as the host does around serving).
func withServices<T>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    if services.isEmpty { return try await body() }
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                  logger: Logger(label: "porter.test.services")))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return try result.get()
    }
}

/// The long-running services a store needs (a PostgreSQL store's pool).
func services(of stores: any SessionStore...) -> [any Service] {
    stores.compactMap { ($0 as? PostgresSessionStore)?.database }
}
