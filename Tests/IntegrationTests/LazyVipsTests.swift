import Foundation
import PorterImages
import PorterTesting
import Testing
import Glibc

/// Issue 13: libvips is loaded (dlopen) on first use, so a process that serves no images never maps it;
/// a process with an image handler loads it while configuring; a missing libvips is a clear configuration error.
@Suite("libvips loads lazily", .serialized)
struct LazyVipsTests {
    static let libvipsPath = "/usr/lib/x86_64-linux-gnu/libvips.so.42"

    /// The pids of `pid` and its descendants.
    static func tree(_ pid: pid_t) -> [pid_t] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        let children = tasks.flatMap { task in
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
                .split(separator: " ").compactMap { pid_t($0) }
        }
        return [pid] + children.flatMap(tree)
    }

    /// Whether `pid` has libvips mapped.
    static func mapsLibvips(_ pid: pid_t) -> Bool { maps(pid, "libvips") }

    /// Whether `pid` has a file whose path holds `name` mapped (read line by line: /proc files report no size, and
    /// maps is long).
    static func maps(_ pid: pid_t, _ name: String) -> Bool {
        guard let file = fopen("/proc/\(pid)/maps", "r") else { return false }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            if let line, strstr(line, name) != nil { return true }
        }
        return false
    }

    /// Serves `handlers` (TOML) with `workers`, waits until every serving process (the single process, or each
    /// worker) has built its handlers (each logs "listening" after that), and returns which processes (master
    /// first) map libvips.
    static func libvipsMapped(_ handlers: String, workers: Int, library: String = "libvips") async throws -> [Bool] {
        let dir = try TemporaryDirectory(prefix: "porter-lazy-vips")
        _ = try await ConcurrentClients.offPool { try SampleImages.write(to: dir.path("images")) }
        let config = try dir.write("listen = \"\(dir.path("s"))\"\nworkers = \(workers)\nthreads = 2\nlog_level = \"info\"\n" + handlers,
                                   to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config], logPath: dir.path("porter.log"))
        try await porter.waitForLog("listening", occurrences: max(1, workers))
        let mapped = tree(porter.pid).map { maps($0, library) }
        #expect(mapped.count == 1 + workers, "master and workers: \(tree(porter.pid))")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
        return mapped
    }

    static let hello = "[[handlers]]\nverb = \"GET\"\npath = \"/hello\"\nhandler = \"hello\"\n"
    static let image = "[[handlers]]\nverb = \"GET,HEAD\"\npath = \"/images/*\"\nhandler = \"image\"\nroot = \"images\"\nallow_unsigned = true\n"

    @Test("the porter binary needs neither libvips nor libpq at exec (ldd), yet links libfcgi: the check means something")
    func binaryDoesNotLinkLibvips() throws {
        let libraries = try #require(PorterProcess.output(of: "/usr/bin/ldd", [PorterProcess.binaryPath()]))
        #expect(!libraries.contains("vips"))
        #expect(!libraries.contains("libpq"), "libpq (and Kerberos, LDAP, SASL behind it) loads only with a PostgreSQL store")
        #expect(libraries.contains("libfcgi"))
    }

    static let postgresSessions = "[[modules]]\nname = \"session\"\nstore = \"postgres\"\npostgres_url = \"postgres://porter@127.0.0.1:1/porter\"\n"

    @Test("libpq likewise: hello-only processes never map it; a PostgreSQL session store loads it while configuring")
    func libpqLoadsOnlyWithAPostgresStore() async throws {
        #expect(try await Self.libvipsMapped(Self.hello, workers: 0, library: "libpq") == [false])
        #expect(try await Self.libvipsMapped(Self.hello, workers: 1, library: "libpq") == [false, false])
        // No server at port 1 is needed: connections open on first use, libpq loads at configuration.
        #expect(try await Self.libvipsMapped(Self.hello + Self.postgresSessions, workers: 0, library: "libpq") == [true])
    }

    @Test("hello-only: neither the single process nor a master and its two workers map libvips")
    func helloOnlyNeverLoadsLibvips() async throws {
        #expect(try await Self.libvipsMapped(Self.hello, workers: 0) == [false])
        #expect(try await Self.libvipsMapped(Self.hello, workers: 2) == [false, false, false])
    }

    @Test("with an image handler the process that serves images maps libvips")
    func imageHandlerLoadsLibvips() async throws {
        #expect(try await Self.libvipsMapped(Self.hello + Self.image, workers: 0) == [true])
        let mapped = try await Self.libvipsMapped(Self.hello + Self.image, workers: 2)
        #expect(mapped.count == 3 && mapped.dropFirst().allSatisfy { $0 }, "both workers serve images: \(mapped)")
    }

    @Test("an unloadable libvips is a clear configuration error naming dlerror, not a crash; hello-only still starts",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
                   && FileManager.default.fileExists(atPath: libvipsPath), "needs root and unshare for a private mount"))
    func missingLibvipsIsAConfigurationError() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-no-vips")
        _ = try await ConcurrentClients.offPool { try SampleImages.write(to: dir.path("images")) }
        func check(_ handlers: String) async throws -> (status: Int32, output: String) {
            let config = try dir.write("listen = \"\(dir.path("s"))\"\n" + handlers, to: "porter.toml")
            // In a private mount namespace libvips.so.42 is /dev/null: dlopen fails ("file too short").
            let script = "mount --bind /dev/null \(Self.libvipsPath) && exec \(PorterProcess.binaryPath()) check --config \(config)"
            return try await ConcurrentClients.offPool {
                try PorterProcess.run("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c", script])
            }
        }
        let failed = try await check(Self.image)
        #expect(failed.status == 1 || failed.status == 64 || failed.status == 78, "an error exit, not a signal: \(failed.status)")
        #expect(failed.output.contains("images: libvips: not available: ") && failed.output.contains("libvips.so.42: file too short"),
                "\(failed.output)")
        let hello = try await check(Self.hello)
        #expect(hello.status == 0, "\(hello.output)")
    }

    @Test("a master checks its configuration in a child: a bad one is refused at start with the build's error; on SIGHUP the old one stays; the master never maps libvips")
    func masterChecksInAChild() async throws {
        let dir = try TemporaryDirectory(prefix: "porter-master-check")
        _ = try await ConcurrentClients.offPool { try SampleImages.write(to: dir.path("images")) }
        let head = "listen = \"\(dir.path("s"))\"\nworkers = 1\nlog_level = \"info\"\n"
        let bad = Self.image.replacingOccurrences(of: "root = \"images\"", with: "root = \"missing\"")
        let badConfig = try dir.write(head + bad, to: "bad.toml")
        let refused = try await ConcurrentClients.offPool { try PorterProcess.run(PorterProcess.binaryPath(), ["serve", "--config", badConfig]) }
        #expect(refused.status == 1, "\(refused.output)")
        #expect(refused.output.contains("image root \"") && refused.output.contains("does not exist"), "\(refused.output)")
        #expect(!refused.output.contains("master started"))

        let config = try dir.write(head + Self.hello + Self.image, to: "porter.toml")
        let porter = try PorterProcess(arguments: ["serve", "--config", config], logPath: dir.path("porter.log"))
        try await porter.waitForLog("listening")
        _ = try dir.write(head + bad, to: "porter.toml")
        porter.signal(SIGHUP)
        try await porter.waitForLog("reload refused")
        #expect(porter.logCount("does not exist") >= 1, "the child's build error is in the log")
        #expect(porter.logCount("reloading") == 0)
        #expect(!Self.mapsLibvips(porter.pid), "the master checked an image configuration twice without loading libvips")
        porter.signal(SIGTERM)
        #expect(await porter.exitStatus() == 0)
    }
}
