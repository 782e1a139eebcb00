public import Foundation
import Glibc
import Testing

/// A throwaway PostgreSQL server for the tests: Debian's `postgresql` package (installed with apt-get when
/// missing), `initdb` into a temporary directory as the `postgres` user, started on 127.0.0.1 (plus any extra
/// addresses, e.g. a bridge that test network namespaces reach) at a free port with its socket in the same
/// directory. A watchdog shell stops it (SIGINT = fast shutdown) and removes the directory as soon as the test
/// process exits, however it exits.
public final class PostgresTestServer: Sendable {
    /// The TCP port it listens on (every address).
    public let port: Int
    /// Its directory (data, socket, server.log).
    public let directory: String

    init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    /// The one loopback server of this test process, or the reason it could not be started (started on a thread
    /// of its own: initdb and the start-up wait block).
    public static let shared: Task<Result<PostgresTestServer, SkipReason>, Never> = Task {
        (try? await ConcurrentClients.offPool { start() }) ?? .failure(SkipReason(description: "cannot start postgres"))
    }

    /// The shared server; when PostgreSQL cannot be installed the test is cancelled (reported as skipped, with the
    /// reason); any other failure to start it fails the test.
    public static func sharedOrSkip() async throws -> PostgresTestServer {
        switch await shared.value {
        case .success(let server): return server
        case .failure(let reason) where reason.notInstallable:
            try Test.cancel("PostgreSQL cannot be installed: \(reason)")
        case .failure(let reason):
            throw reason
        }
    }

    /// Why a server could not be started.
    public struct SkipReason: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
        /// True only when PostgreSQL is not installed and cannot be installed (the one reason to skip).
        public var notInstallable = false
    }

    /// Creates a new, empty database on the server and returns its name.
    public func makeDatabaseName() async throws -> String {
        let name = "porter_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        let port = self.port
        let (status, output) = try await ConcurrentClients.offPool {
            try PorterProcess.run(Self.binary("psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres",
                                               "-d", "postgres", "-c", "CREATE DATABASE \(name)"])
        }
        guard status == 0 else { throw SkipReason(description: "CREATE DATABASE failed: \(output)") }
        return String(name)
    }

    /// A `postgres://` URL for `database` reached at `host` (default loopback).
    public func url(database: String, host: String = "127.0.0.1") -> String {
        "postgres://postgres@\(host):\(port)/\(database)"
    }

    /// Runs SQL with psql on `database` and returns psql's unaligned output (blocks: call from a helper thread).
    public func psql(_ sql: String, database: String) throws -> String {
        let (status, output) = try PorterProcess.run(Self.binary("psql"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres",
                                                                 "-d", database, "-At", "-c", sql])
        guard status == 0 else { throw SkipReason(description: "psql failed: \(output)") }
        return output
    }

    /// How many of the server's sessions on `database` match `condition` (SQL over `pg_stat_activity`, e.g.
    /// `wait_event_type = 'Lock'`); runs psql off the concurrency pool.
    public func sessionCount(_ database: String, where condition: String) async throws -> Int {
        let count = try await ConcurrentClients.offPool {
            try self.psql("SELECT count(*) FROM pg_stat_activity WHERE \(condition) AND datname = '\(database)'", database: database)
        }
        return Int(count.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    static func binDirectory() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        return versions.map { "\(base)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: "\($0)/postgres") }
    }

    static func binary(_ name: String) -> String { "\(binDirectory() ?? "/usr/lib/postgresql/15/bin")/\(name)" }


    /// Starts a server listening on 127.0.0.1 and `extraAddresses` (each also admitted, trust auth, by pg_hba
    /// for its /16). Blocks: call from a helper thread.
    public static func start(extraAddresses: [String] = []) -> Result<PostgresTestServer, SkipReason> {
        do {
            if binDirectory() == nil {
                print("PostgreSQL not found; installing Debian's postgresql package")
                var result = try PorterProcess.run("/usr/bin/apt-get", ["install", "-y", "-q", "postgresql"])
                if result.status != 0 {
                    _ = try? PorterProcess.run("/usr/bin/apt-get", ["update", "-q"])
                    result = try PorterProcess.run("/usr/bin/apt-get", ["install", "-y", "-q", "postgresql"])
                }
                guard binDirectory() != nil else {
                    return .failure(SkipReason(description: "cannot install postgresql: \(result.output.suffix(400))", notInstallable: true))
                }
            }
            let runuser = ["/usr/sbin/runuser", "/sbin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/runuser"
            if getuid() == 0, (try PorterProcess.run("/usr/bin/id", ["-u", "postgres"])).status != 0 {
                try PorterProcess.run("/usr/sbin/useradd", ["--system", "--no-create-home", "postgres"])
            }
            let asPostgres: (String, [String]) throws -> (Int32, String) = { tool, args in
                getuid() == 0 ? try PorterProcess.run(runuser, ["-u", "postgres", "--", binary(tool)] + args) : try PorterProcess.run(binary(tool), args)
            }
            // The port is free when picked but another process may take it before postgres binds it: then
            // postgres exits at once, and a fresh attempt picks another port.
            var lastLog = ""
            for _ in 1...3 {
                let dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("porter-pg-\(UUID().uuidString)").path
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let data = dir + "/data"
                try PorterProcess.run("/bin/chown", ["-R", "postgres", dir])
                let initdb = try asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
                guard initdb.0 == 0 else { return .failure(SkipReason(description: "initdb failed: \(initdb.1.suffix(400))")) }
                if !extraAddresses.isEmpty, let hba = FileHandle(forWritingAtPath: data + "/pg_hba.conf") {
                    hba.seekToEndOfFile()
                    for address in extraAddresses {
                        let parts = address.split(separator: ".")
                        let net = parts.count == 4 ? "\(parts[0]).\(parts[1]).0.0/16" : address + "/128"
                        hba.write(Data("host all all \(net) trust\n".utf8))
                    }
                    hba.closeFile()
                }
                let listen = (["127.0.0.1"] + extraAddresses).joined(separator: ",")
                let port = Int(try LocalPorts.free())
                // The watchdog: starts postgres, waits while the test process lives, then stops postgres and
                // cleans up (it leaves the directory, with the server log, if postgres died on its own).
                let script = """
                    \(getuid() == 0 ? "\(runuser) -u postgres -- " : "")\(binary("postgres")) -D \(data) -k \(dir) -p \(port) -h \(listen) \
                    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 > \(dir)/server.log 2>&1 &
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
                    if (try PorterProcess.run(binary("pg_isready"), ["-h", "127.0.0.1", "-p", String(port), "-q"])).status == 0 {
                        print("PostgreSQL test server on \(listen) port \(port), data in \(data)")
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
}
